"""MCP servers named in ``BERTH_MCP_SERVERS`` as tool sources, with real stdio servers started
as subprocesses: at start-up Berth registers each good server's tools (only those ``allow``
names) as ``<server>__<tool>``, called through the registry like any tool (schema, timeout,
breaker); an entry without a command, a server that cannot start and one that does not answer
within its timeout are each logged and reported by name, and Berth starts without them. An
agent job that names a tool no source registered is refused at submit."""

from __future__ import annotations

import logging
import sys
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
