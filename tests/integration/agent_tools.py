"""A probe tool for agent crash tests, loaded by workers through the ``berth.tools`` hook.

``tally`` is not idempotent: each execution appends ``<pid> <n>`` to ``HOME/tally.log`` when
it starts, then takes a while, so a kill -9 can land during a call. ``drop_table`` is
destructive (a run waits for an approval before it) and logs each drop to ``HOME/dropped.log``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from berth.agents.tool import JsonObject, Tool, ToolContext
from berth.hookspecs import Registry
from tests.integration.worker_process import REPO_ROOT

TALLY_SECONDS = 0.4


async def tally(arguments: JsonObject, ctx: ToolContext) -> Any:
    assert ctx.settings is not None
    line = f"{os.getpid()} {arguments['n']}\n"
    fd = os.open(ctx.settings.home / "tally.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)
    await asyncio.sleep(TALLY_SECONDS)
    return {"counted": arguments["n"]}


TALLY = Tool(
    "tally",
    "Count one more.",
    {
        "type": "object",
        "properties": {"n": {"type": "integer", "minimum": 0, "maximum": 9}},
        "required": ["n"],
        "additionalProperties": False,
    },
    call=tally,
    idempotent=False,
)


async def drop_table(arguments: JsonObject, ctx: ToolContext) -> Any:
    assert ctx.settings is not None
    with (ctx.settings.home / "dropped.log").open("a") as out:
        out.write(f"{arguments['table']}\n")
    return {"dropped": arguments["table"]}


DROP_TABLE = Tool(
    "drop_table",
    "Drop a table (destructive: waits for approval).",
    {
        "type": "object",
        "properties": {"table": {"enum": ["users", "orders"]}},
        "required": ["table"],
        "additionalProperties": False,
    },
    call=drop_table,
    destructive=True,
)


def register(registry: Registry) -> None:
    registry.add_tool(TALLY)
    registry.add_tool(DROP_TABLE)


def with_tool_plugin(env: Mapping[str, str], folder: Path) -> dict[str, str]:
    """``env`` for a worker that loads the ``tally`` tool as a plugin from ``folder``."""
    info = folder / "berth_tally_probe-0.1.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: berth-tally-probe\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[berth.tools]\ntally = {__name__}:register\n")
    paths = [str(folder), str(REPO_ROOT), env.get("PYTHONPATH", "")]
    return {**env, "PYTHONPATH": os.pathsep.join(path for path in paths if path)}


def read_tally(home: Path) -> list[str]:
    path = home / "tally.log"
    return path.read_text().splitlines() if path.exists() else []
