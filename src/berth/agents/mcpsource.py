"""MCP servers as tool sources: each tool a server lists becomes a Berth tool.

A source is a stdio server (a command Berth starts) or a Streamable HTTP server (a URL); every
call connects (a stdio server is started and stopped for it), calls the tool, and leaves, so a
call's timeout stops the server process too. The server's tool annotations set the flags:
``idempotentHint`` makes the tool idempotent, ``destructiveHint`` (MCP's default is true unless
``readOnlyHint``) makes it destructive.

Sources come from a plugin's ``register`` (:func:`tools_of`) or from ``BERTH_MCP_SERVERS``
(:func:`register_servers`, at start-up): an entry that is wrong, or a server that does not
list its tools within its timeout, is logged and reported, and the others go on.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pydantic
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from pydantic import BaseModel, ConfigDict, Field

from berth import errors
from berth.agents.registry import ToolRegistry, ToolSource
from berth.agents.tool import JsonObject, Tool, ToolCall, ToolContext
from berth.jobs.kind import describe_validation

log = logging.getLogger(__name__)

_NAME = re.compile(r"[^A-Za-z0-9_-]")
KIND = "mcp"
SETTING = "BERTH_MCP_SERVERS"


@dataclass(frozen=True)
class McpSource:
    """An MCP server: the command and arguments that start it (stdio) or its URL (Streamable
    HTTP); its tools are named ``<name>__<tool>``, only those in ``allow`` if it is given."""

    name: str
    command: str | None = None
    args: list[str] = field(default_factory=list)
    env: dict[str, str] | None = None
    timeout_s: float = 30.0
    url: str | None = None
    allow: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if (self.command is None) == (self.url is None):
            raise ValueError(f"MCP source '{self.name}': give exactly one of command and url.")

    def server(self) -> StdioServerParameters | str:
        """What :class:`mcp.Client` connects to."""
        if self.url is not None:
            return self.url
        assert self.command is not None
        return StdioServerParameters(command=self.command, args=self.args, env=self.env)

    @property
    def shown(self) -> str:
        """The command or URL, for messages."""
        return self.url or " ".join([self.command or "", *self.args])


class McpServerEntry(BaseModel):
    """One entry of ``BERTH_MCP_SERVERS``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,40}$", description="Its tools' name prefix.")
    command: str | None = Field(default=None, min_length=1, description="Starts a stdio server.")
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] | None = None
    url: str | None = Field(
        default=None, pattern=r"^https?://", description="A Streamable HTTP server."
    )
    timeout: float = Field(default=30.0, gt=0, description="Seconds to list tools, and per call.")
    allow: list[str] | None = Field(
        default=None, description="Its tools to register; all if unset."
    )

    @pydantic.model_validator(mode="after")
    def _one_server(self) -> McpServerEntry:
        if (self.command is None) == (self.url is None):
            raise ValueError("give a command (a stdio server) or a url (a Streamable HTTP server)")
        return self

    def source(self) -> McpSource:
        allow = tuple(self.allow) if self.allow is not None else None
        return McpSource(
            self.name, self.command, self.args, self.env, self.timeout, self.url, allow
        )


async def discover(source: McpSource) -> list[Tool]:
    """The source's tools (those allowed), read from its ``tools/list``; raises ToolFailed if
    it cannot start or does not answer."""
    try:
        async with Client(source.server()) as client:
            listed = await client.list_tools()
    except Exception as exc:
        raise errors.ToolFailed(
            f"Cannot list the tools of the MCP server '{source.name}' ({source.shown}): "
            f"{type(exc).__name__}: {exc}. Check it runs an MCP server."
        ) from exc
    entries = [e for e in listed.tools if source.allow is None or e.name in source.allow]
    return [_tool(source, entry) for entry in entries]


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


async def register_servers(entries: Sequence[Any], registry: ToolRegistry) -> list[ToolSource]:
    """Register the tools of each ``BERTH_MCP_SERVERS`` entry (listed at once, each within its
    timeout), and record in ``registry.sources`` what each gave or why it gave nothing. An
    entry whose name was loaded already is left as it is."""
    fresh = [(at, e) for at, e in enumerate(entries, 1) if _name_of(e, at) not in registry.sources]
    listed = await asyncio.gather(*(_listed(at, entry) for at, entry in fresh))
    for (at, entry), found in zip(fresh, listed, strict=True):
        name = _name_of(entry, at)
        report = found if isinstance(found, ToolSource) else _added(registry, name, *found)
        registry.sources[name] = report
        _log(report)
    return [registry.sources[_name_of(e, at)] for at, e in enumerate(entries, 1)]


def _name_of(entry: Any, at: int) -> str:
    name = entry.get("name") if isinstance(entry, dict) else None
    return name if isinstance(name, str) and name else f"entry {at}"


async def _listed(at: int, entry: Any) -> ToolSource | tuple[McpSource, list[Tool]]:
    """The entry's source and tools, or the report of why there are none."""
    name = _name_of(entry, at)
    where = f"{SETTING} entry {at} ('{name}')"
    try:
        source = McpServerEntry.model_validate(entry).source()
    except pydantic.ValidationError as exc:
        message = f"{where} is not a server: {describe_validation(exc)}. Fix the entry."
        return ToolSource(name, KIND, error=message)
    try:
        return source, await asyncio.wait_for(discover(source), source.timeout_s)
    except TimeoutError:
        message = (
            f"{where}: the MCP server ({source.shown}) did not list its tools within "
            f"{source.timeout_s:g} s. Check it starts, or raise its timeout."
        )
    except errors.ToolFailed as exc:
        message = f"{where}: {exc.message}"
    return ToolSource(name, KIND, error=message)


def _added(registry: ToolRegistry, name: str, source: McpSource, tools: list[Tool]) -> ToolSource:
    added: list[str] = []
    try:
        for tool in tools:
            registry.add(tool)
            added.append(tool.name)
    except errors.PluginError as exc:
        return ToolSource(name, KIND, tuple(added), f"{SETTING} '{name}': {exc.message}")
    listed = {tool.name for tool in tools}
    missing = [a for a in source.allow or () if _NAME.sub("_", f"{name}__{a}") not in listed]
    note = f"allow names tools the server does not list: {', '.join(missing)}" if missing else None
    return ToolSource(name, KIND, tuple(added), note=note)


def _log(report: ToolSource) -> None:
    if report.ok:
        log.info(
            "tool source loaded",
            extra={
                "action": "tools.source_loaded",
                "source": report.name,
                "tools": len(report.tools),
            },
        )
        if report.note:
            log.warning(report.note, extra={"action": "tools.source_note", "source": report.name})
        return
    log.error(report.error, extra={"action": "tools.source_failed", "source": report.name})


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
        async with Client(source.server()) as client:
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
