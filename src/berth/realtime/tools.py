"""Function tools in a realtime session: the session's ``tools`` and ``tool_choice`` as the
chat path's :class:`~berth.tooluse.ToolPlan`, so a response's call is valid by
construction (the grammar) and read back by the same :class:`CallReader`."""

from __future__ import annotations

import json

from berth import errors, tooluse
from berth.realtime.config import SessionConfig
from berth.realtime.events import BadEvent
from berth.tasks.generate import ToolSpec


def tool_plan(config: SessionConfig) -> tooluse.ToolPlan:
    """The plan of a response under ``config``: one call at most per response (as OpenAI's
    realtime models make); BadEvent naming ``session.tool_choice`` or ``session.tools``."""
    tools = [
        ToolSpec(
            str(tool["name"]),
            str(tool.get("description") or ""),
            json.dumps(tool.get("parameters") or tooluse.EMPTY_PARAMETERS),
        )
        for tool in config.tools
    ]
    choice = config.tool_choice
    mode = choice if isinstance(choice, str) else choice["name"]
    try:
        return tooluse.plan(tools, mode if tools else None, False, tooluse.OutputFormat())
    except errors.InvalidRequest as exc:
        raise BadEvent(exc.message, "session.tool_choice") from exc
