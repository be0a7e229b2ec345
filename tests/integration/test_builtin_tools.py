"""The built-in tools against real things: ``http_fetch`` against an HTTP server on
127.0.0.1 (only allowed URLs are fetched: a refused one never reaches the server), and an
MCP stdio server (``mcp_probe_server.py``) as a tool source."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from berth import errors
from berth.agents.fetch import HTTP_FETCH
from berth.agents.mcpsource import McpSource, discover, tools_of
from berth.agents.registry import ToolRegistry
from berth.agents.tool import ToolContext
from berth.settings import Settings

pytestmark = pytest.mark.integration


class Site(BaseHTTPRequestHandler):
    paths: list[str] = []

    def do_GET(self) -> None:
        Site.paths.append(self.path)
        body = f"you asked for {self.path}".encode()
        self.send_response(200)
        self.send_header("content-type", "text/plain")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return None


@pytest.fixture
def site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Site)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Site.paths = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


async def test_http_fetch_fetches_only_allowed_urls(site: str, tmp_path: Path) -> None:
    registry = ToolRegistry()
    registry.add(HTTP_FETCH)
    settings = Settings(home=tmp_path, tool_http_allow=[f"{site}/api/"])
    ctx = ToolContext(settings=settings)
    done = await registry.call("http_fetch", {"url": f"{site}/api/items?x=1"}, ctx)
    assert done.result["status"] == 200
    assert done.result["text"] == "you asked for /api/items?x=1"
    for refused in (f"{site}/admin", f"{site}/apix", "http://127.0.0.2/api/", f"{site}.evil/api/"):
        with pytest.raises(errors.GuardrailRefused, match="not under an allowed prefix"):
            await registry.call("http_fetch", {"url": refused}, ctx)
    assert Site.paths == ["/api/items?x=1"], "a refused URL was fetched"


async def test_http_fetch_refuses_everything_by_default(site: str, tmp_path: Path) -> None:
    registry = ToolRegistry()
    registry.add(HTTP_FETCH)
    with pytest.raises(errors.GuardrailRefused, match="BERTH_TOOL_HTTP_ALLOW"):
        await registry.call("http_fetch", {"url": f"{site}/"}, ToolContext(settings=Settings()))
    assert Site.paths == []


PROBE = Path(__file__).with_name("mcp_probe_server.py")


async def test_an_mcp_stdio_server_is_a_tool_source(tmp_path: Path) -> None:
    source = McpSource("probe", sys.executable, [str(PROBE)], timeout_s=60)
    tools = {tool.name: tool for tool in await discover(source)}
    assert set(tools) == {"probe__add", "probe__wipe"}
    assert tools["probe__add"].idempotent and not tools["probe__add"].destructive
    assert tools["probe__wipe"].destructive and not tools["probe__wipe"].idempotent
    registry = ToolRegistry()
    for tool in tools.values():
        registry.add(tool)
    done = await registry.call("probe__add", {"a": 2, "b": 3}, ToolContext())
    assert done.result == {"result": 5}
    with pytest.raises(errors.ToolInputInvalid):
        await registry.call("probe__add", {"a": "two", "b": 3}, ToolContext())
    with pytest.raises(errors.ToolFailed, match="no table users"):
        await registry.call("probe__wipe", {"table": "users"}, ToolContext())


async def test_a_plugin_can_list_an_mcp_servers_tools_while_a_loop_runs(tmp_path: Path) -> None:
    tools = tools_of(McpSource("probe", sys.executable, [str(PROBE)]))
    assert sorted(tool.name for tool in tools) == ["probe__add", "probe__wipe"]
    with pytest.raises(errors.ToolFailed, match="Cannot list the tools"):
        tools_of(McpSource("broken", sys.executable, [str(tmp_path / "missing.py")]))
