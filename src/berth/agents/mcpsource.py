"""MCP servers as tool sources: each tool a server lists becomes a Berth tool.

A source is a stdio server (a command Berth starts); every call starts it, calls the tool,
and stops it, so a call's timeout stops the server process too. The server's tool
annotations set the flags: ``idempotentHint`` makes the tool idempotent, ``destructiveHint``
(MCP's default is true unless ``readOnlyHint``) makes it destructive.
"""

from __future__ import annotations

import asyncio
import re
import threading
from dataclasses import dataclass, field
from typing import Any

from mcp import Client
from mcp.client.stdio import StdioServerParameters

from berth import errors
from berth.agents.tool import JsonObject, Tool, ToolCall, ToolContext

_NAME = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(frozen=True)
class McpSource:
    """A stdio MCP server: the command and arguments that start it; its tools are named
    ``<name>__<tool>``."""

    name: str
    command: str
    args: list[str] = field(default_factory=list)
    env: dict[str, str] | None = None
    timeout_s: float = 30.0

    def params(self) -> StdioServerParameters:
        return StdioServerParameters(command=self.command, args=self.args, env=self.env)


async def discover(source: McpSource) -> list[Tool]:
    """The source's tools, read from its ``tools/list``; raises ToolFailed if it cannot start."""
    try:
        async with Client(source.params()) as client:
            listed = await client.list_tools()
    except Exception as exc:
        raise errors.ToolFailed(
            f"Cannot list the tools of the MCP server '{source.name}' ({source.command}): "
            f"{type(exc).__name__}: {exc}. Check the command runs an MCP stdio server."
        ) from exc
    return [_tool(source, entry) for entry in listed.tools]


def tools_of(source: McpSource) -> list[Tool]:
    """:func:`discover`, from a plugin's (synchronous) ``register``: it runs in a thread of
    its own, so it works whether or not an event loop is running here."""
    found: list[list[Tool]] = []
    failed: list[BaseException] = []

    def work() -> None:
        try:
            found.append(asyncio.run(discover(source)))
        except BaseException as exc:
            failed.append(exc)

    thread = threading.Thread(target=work, name=f"mcp {source.name}")
    thread.start()
    thread.join()
    if failed:
        raise failed[0]
    return found[0]


def _tool(source: McpSource, entry: Any) -> Tool:
    notes = entry.annotations
    read_only = bool(notes and notes.read_only_hint)
    destructive = not read_only and (notes is None or notes.destructive_hint is not False)
    return Tool(
        name=_NAME.sub("_", f"{source.name}__{entry.name}"),
        description=entry.description or f"The MCP tool {entry.name} of {source.name}.",
        input_schema=dict(entry.input_schema),
        call=_caller(source, entry.name),
        timeout_s=source.timeout_s,
        idempotent=bool(notes and (notes.idempotent_hint or read_only)),
        destructive=destructive,
        source=f"mcp:{source.name}",
    )


def _caller(source: McpSource, tool: str) -> ToolCall:
    async def call(arguments: JsonObject, ctx: ToolContext) -> Any:
        async with Client(source.params()) as client:
            result = await client.call_tool(tool, arguments)
        if result.is_error:
            raise errors.ToolFailed(
                f"The MCP tool '{tool}' of '{source.name}' answered an error: {_text(result)}"
            )
        if result.structured_content is not None:
            return result.structured_content
        return {"text": _text(result)}

    return call


def _text(result: Any) -> str:
    return "\n".join(str(getattr(part, "text", "")) for part in result.content)
