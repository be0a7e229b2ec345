"""MCP servers named in ``BERTH_MCP_SERVERS`` as tool sources, with real stdio servers started
as subprocesses: at start-up Berth registers each good server's tools (only those ``allow``
names) as ``<server>__<tool>``, called through the registry like any tool (schema, timeout,
breaker); an entry without a command, a server that cannot start and one that does not answer
within its timeout are each logged and reported by name, and Berth starts without them. An
agent job that names a tool no source registered is refused at submit. A Streamable HTTP
server is a source by its URL."""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from berth import errors
from berth.agents.tool import ToolContext
from berth.app import Berth
from berth.settings import Settings

pytestmark = pytest.mark.integration
PROBE = Path(__file__).with_name("mcp_probe_server.py")


def servers(tmp_path: Path) -> list[dict[str, Any]]:
    return [
        {
            "name": "probe",
            "command": sys.executable,
            "args": [str(PROBE)],
            "allow": ["add", "subtract"],
            "timeout": 60,
        },
        {"name": "nocommand", "args": ["server.py"]},
        {"name": "gone", "command": sys.executable, "args": [str(tmp_path / "missing.py")]},
        {
            "name": "mute",
            "command": sys.executable,
            "args": ["-c", "import time; time.sleep(30)"],
            "timeout": 1.5,
        },
    ]


async def test_settings_servers_are_tool_sources_and_bad_ones_are_named(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(
        home=tmp_path / "home", database_url="memory://", mcp_servers=servers(tmp_path)
    )
    caplog.set_level(logging.INFO, logger="berth.agents.mcpsource")
    async with Berth(settings) as berth:
        agents = berth.services.agents
        tools = {tool["name"]: tool for tool in agents.tools()}
        assert "probe__add" in tools and "probe__wipe" not in tools, "allow was not applied"
        assert tools["probe__add"]["source"] == "mcp:probe"
        assert tools["probe__add"]["breaker"] == "closed" and tools["probe__add"]["idempotent"]

        sources = {source["name"]: source for source in agents.sources()}
        assert list(sources) == ["probe", "nocommand", "gone", "mute"]
        assert (sources["probe"]["status"], sources["probe"]["tools"]) == ("ok", ["probe__add"])
        assert "subtract" in sources["probe"]["note"]
        for name in ("nocommand", "gone", "mute"):
            assert sources[name]["status"] == "failed" and sources[name]["tools"] == []
        assert "BERTH_MCP_SERVERS entry 2 ('nocommand')" in sources["nocommand"]["error"]
        assert "give a command" in sources["nocommand"]["error"]
        assert "entry 3 ('gone')" in sources["gone"]["error"]
        assert "Cannot list the tools" in sources["gone"]["error"]
        assert "did not list its tools within 1.5 s" in sources["mute"]["error"]
        logged = [r.__dict__ for r in caplog.records]
        failed = {r["source"] for r in logged if r.get("action") == "tools.source_failed"}
        assert failed == {"nocommand", "gone", "mute"}

        registry = agents.host.tools
        done = await registry.call("probe__add", {"a": 2, "b": 3}, ToolContext())
        assert done.result == {"result": 5}
        with pytest.raises(errors.ToolInputInvalid, match="probe__add"):
            await registry.call("probe__add", {"a": "two", "b": 3}, ToolContext())

        jobs = berth.services.jobs
        submitted = await jobs.submit(
            None, "agent", {"input": "Add 2 and 3.", "tools": ["probe__add"]}
        )
        assert submitted.job.input["tools"] == ["probe__add"]
        with pytest.raises(errors.InvalidJobInput) as refused:
            await jobs.submit(None, "agent", {"input": "Wipe it.", "tools": ["probe__wipe"]})
        assert "'probe__wipe'" in refused.value.message and "probe__add" in refused.value.message


async def test_loading_the_sources_twice_keeps_the_first(tmp_path: Path) -> None:
    entry = {"name": "probe", "command": sys.executable, "args": [str(PROBE)], "timeout": 60}
    settings = Settings(home=tmp_path / "home", database_url="memory://", mcp_servers=[entry])
    async with Berth(settings) as berth:
        first = berth.services.agents.sources()
        again = await berth.services.agents.load_sources()
        assert first == again and first[0]["tools"] == ["probe__add", "probe__wipe"]


@pytest.fixture
def http_probe() -> Iterator[str]:
    """The probe server over Streamable HTTP on a free loopback port: its URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, str(PROBE), str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            with socket.socket() as knock:
                if knock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert process.poll() is None and time.monotonic() < deadline, "it did not start"
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        process.wait(10)


async def test_a_streamable_http_server_is_a_source_by_its_url(
    tmp_path: Path, http_probe: str
) -> None:
    entries = [{"name": "web", "url": http_probe, "allow": ["add"], "timeout": 30}]
    settings = Settings(home=tmp_path / "home", database_url="memory://", mcp_servers=entries)
    async with Berth(settings) as berth:
        [source] = berth.services.agents.sources()
        assert (source["status"], source["tools"]) == ("ok", ["web__add"]), source
        done = await berth.services.agents.host.tools.call(
            "web__add", {"a": 4, "b": 5}, ToolContext()
        )
        assert done.result == {"result": 9}
