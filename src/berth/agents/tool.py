"""What a tool is: a name, a JSON-schema input, a call, and the rules it runs under."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from berth.settings import Settings
from berth.tasks.calls import ModelCalls

JsonObject = dict[str, Any]


@dataclass(frozen=True)
class RetryPolicy:
    """How often a call that failed with a retryable error is tried again, and how long
    to wait before each try (``base_s * factor**n``, at most ``max_s``)."""

    attempts: int = 3
    base_s: float = 0.2
    factor: float = 2.0
    max_s: float = 5.0

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (0 for the first retry)."""
        return float(min(self.max_s, self.base_s * self.factor**retry))


@dataclass(frozen=True)
class BreakerPolicy:
    """When a tool's circuit breaker opens: ``failures`` within ``window_s`` seconds; it
    lets one probe through after ``cooldown_s``."""

    failures: int = 5
    window_s: float = 60.0
    cooldown_s: float = 30.0


@dataclass(frozen=True)
class ToolContext:
    """What a running tool may use: Berth's models (as the agent's caller) and settings."""

    models: ModelCalls | None = None
    settings: Settings | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


ToolCall = Callable[[JsonObject, ToolContext], Awaitable[Any]]
"""An async tool: arguments (already validated) and context in, a JSON-able result out."""


@dataclass(frozen=True)
class Tool:
    """One tool an agent can call.

    ``call`` is an async function; a tool written as a blocking function is registered with
    ``subprocess=True`` and ``target`` (``"module:function"``), and runs in a child process
    that is killed at its timeout, so a blocked tool really stops.
    """

    name: str
    description: str
    input_schema: JsonObject
    call: ToolCall | None = None
    target: str | None = None
    timeout_s: float = 30.0
    retry: RetryPolicy = RetryPolicy()
    breaker: BreakerPolicy = BreakerPolicy()
    idempotent: bool = False
    destructive: bool = False
    source: str = "builtin"

    def __post_init__(self) -> None:
        if (self.call is None) == (self.target is None):
            raise ValueError(f"Tool '{self.name}': give exactly one of call and target.")
        if self.timeout_s <= 0:
            raise ValueError(f"Tool '{self.name}': timeout_s must be above 0.")
        if self.retry.attempts < 1:
            raise ValueError(f"Tool '{self.name}': retry.attempts must be 1 or more.")

    def openai_function(self) -> JsonObject:
        """The tool as an entry of a chat request's ``tools``."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.input_schema,
            },
        }
