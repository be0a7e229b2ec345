"""The tool registry: every registered tool, its breaker, and the one way to call a tool
(arguments checked against its schema, breaker asked, timeout enforced, retries bounded)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import jsonschema  # type: ignore[import-untyped]

from berth import errors, metrics
from berth.agents.breaker import BreakerState, CircuitBreaker
from berth.agents.isolation import run_in_child
from berth.agents.tool import JsonObject, Tool, ToolContext
from berth.clock import Clock, SystemClock

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class ToolResult:
    """What one call of a tool gave, after how many attempts and how long."""

    tool: str
    result: Any
    attempts: int
    seconds: float


@dataclass(frozen=True)
class ToolSource:
    """A source of tools named in the settings (an MCP server): the tools it gave, or why it
    gave none (``error``), and anything else worth knowing about it (``note``)."""

    name: str
    kind: str
    tools: tuple[str, ...] = ()
    error: str | None = None
    note: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "status": "ok" if self.ok else "failed",
            "tools": list(self.tools),
            "error": self.error,
            "note": self.note,
        }


class ToolRegistry:
    """Tools by name, each with its circuit breaker, and the settings' sources of tools."""

    def __init__(self, clock: Clock | None = None, sleep: Sleep = asyncio.sleep) -> None:
        self.sources: dict[str, ToolSource] = {}
        """The settings' tool sources by name, once they were loaded (see
        :func:`berth.agents.mcpsource.register_servers`)."""
        self._tools: dict[str, Tool] = {}
        self._breakers: dict[str, CircuitBreaker] = {}
        self._validators: dict[str, Any] = {}
        self._clock = clock or SystemClock()
        self._sleep = sleep

    def add(self, tool: Tool) -> None:
        """Register a tool; raises PluginError for a taken name or a schema that is wrong."""
        if tool.name in self._tools:
            raise errors.PluginError(
                f"Two plugins register the tool '{tool.name}'. Uninstall one of them."
            )
        try:
            jsonschema.Draft202012Validator.check_schema(tool.input_schema)
        except jsonschema.SchemaError as exc:
            raise errors.PluginError(
                f"The tool '{tool.name}' has an input schema that is not JSON Schema: "
                f"{exc.message}."
            ) from exc
        self._tools[tool.name] = tool
        self._validators[tool.name] = jsonschema.Draft202012Validator(tool.input_schema)
        self._breakers[tool.name] = CircuitBreaker(tool.name, tool.breaker, self._clock)

    def get(self, name: str) -> Tool:
        """The tool with this name; raises UnknownTool naming the ones there are."""
        try:
            return self._tools[name]
        except KeyError:
            known = ", ".join(sorted(self._tools)) or "none"
            raise errors.UnknownTool(
                f"There is no tool '{name}'. Registered tools: {known}."
            ) from None

    def names(self) -> list[str]:
        """Every registered tool's name, sorted."""
        return sorted(self._tools)

    def tools(self, names: Iterable[str] | None = None) -> list[Tool]:
        """All tools by name, or those named (each must exist)."""
        if names is None:
            return [self._tools[n] for n in sorted(self._tools)]
        return [self.get(n) for n in names]

    def breaker_states(self) -> dict[str, BreakerState]:
        """Each tool's breaker state now."""
        return {name: self._breakers[name].state for name in sorted(self._breakers)}

    def validate(self, name: str, arguments: object) -> JsonObject:
        """The arguments if they match the tool's schema; raises ToolInputInvalid."""
        self.get(name)
        if not isinstance(arguments, dict):
            raise errors.ToolInputInvalid(
                f"The arguments of '{name}' must be a JSON object, not {type(arguments).__name__}."
            )
        failure = jsonschema.exceptions.best_match(self._validators[name].iter_errors(arguments))
        if failure is not None:
            where = "/".join(str(p) for p in failure.absolute_path) or "(the arguments)"
            raise errors.ToolInputInvalid(
                f"The arguments of '{name}' do not match its input schema at {where}: "
                f"{failure.message}. Fix them and call it again."
            )
        return arguments

    async def call(self, name: str, arguments: object, ctx: ToolContext) -> ToolResult:
        """Call a tool: validate, then attempts within its retry bound, each under the
        breaker and the timeout; raises the last error when no attempt succeeded."""
        tool = self.get(name)
        checked = self.validate(name, arguments)
        breaker = self._breakers[name]
        started = time.monotonic()
        for attempt in range(1, tool.retry.attempts + 1):
            breaker.before()
            try:
                result = await self._attempt(tool, checked, ctx)
            except errors.ToolError as exc:
                breaker.failure()
                metrics.tool_calls.labels(name, type(exc).__name__).inc()
                if not _retryable(tool, exc) or attempt == tool.retry.attempts:
                    raise
                log.info(
                    "tool retry",
                    extra={"action": "tool.retry", "tool": name, "attempt": attempt},
                )
                await self._sleep(tool.retry.delay(attempt - 1))
                continue
            breaker.success()
            metrics.tool_calls.labels(name, "ok").inc()
            return ToolResult(name, result, attempt, time.monotonic() - started)
        raise AssertionError("unreachable: the loop returns or raises")

    async def _attempt(self, tool: Tool, arguments: JsonObject, ctx: ToolContext) -> Any:
        try:
            if tool.target is not None:
                return await run_in_child(tool.target, arguments, tool.timeout_s)
            assert tool.call is not None
            return await asyncio.wait_for(tool.call(arguments, ctx), tool.timeout_s)
        except TimeoutError:
            raise errors.ToolTimeout(
                f"The tool '{tool.name}' ran past its timeout of {tool.timeout_s:g} s and was "
                "stopped. Raise its timeout or give it less to do."
            ) from None
        except errors.ToolError:
            raise
        except errors.BerthError as exc:
            raise errors.ToolFailed(f"The tool '{tool.name}' failed: {exc.message}") from exc
        except Exception as exc:
            raise errors.ToolFailed(
                f"The tool '{tool.name}' failed: {type(exc).__name__}: {exc}"
            ) from exc


def _retryable(tool: Tool, exc: errors.ToolError) -> bool:
    """A timed-out call may have had its effect, so only an idempotent tool retries it."""
    if isinstance(exc, errors.ToolTimeout):
        return tool.idempotent
    return isinstance(exc, errors.ToolFailed) and exc.retryable
