"""Guardrails in code: what an agent may call, with which arguments, for how long.

:meth:`Guardrails.check` judges one proposed tool call before it runs: a tool outside the
allowlist, an argument outside its bounds or equal to a forbidden value is refused; a
destructive tool (unless ``approve_destructive`` is off) needs an approval first.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from berth.agents.tool import Tool


class Bound(BaseModel):
    """Limits for one argument: ``min``/``max`` for numbers, ``max_length`` for strings and
    lists, ``forbidden`` values it may never take."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min: float | None = None
    max: float | None = None
    max_length: int | None = Field(default=None, ge=0)
    forbidden: list[Any] = Field(default_factory=list)

    @model_validator(mode="after")
    def _ordered(self) -> Bound:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is above max ({self.max})")
        return self


class Verdict(StrEnum):
    """What a guardrail says of one call."""

    ALLOW = "allow"
    REFUSE = "refuse"
    APPROVE = "needs_approval"


class Decision(BaseModel):
    """A verdict and, for a refusal or a wait, why."""

    model_config = ConfigDict(frozen=True)

    verdict: Verdict
    reason: str = ""


class Guardrails(BaseModel):
    """One agent's guardrails, given in its input."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tools: list[str] | None = Field(
        default=None, description="The tools the agent may call; None: those it was given."
    )
    bounds: dict[str, dict[str, Bound]] = Field(
        default_factory=dict, description="Per tool, per argument: its bounds."
    )
    approve_destructive: bool = Field(
        default=True, description="Whether a destructive tool waits for an approval."
    )
    max_turns: int = Field(default=8, ge=1, le=1000, description="Model turns at most.")
    max_tokens: int = Field(
        default=4096, ge=1, description="Tokens the model may generate over the whole run."
    )

    def check(self, tool: Tool, arguments: dict[str, Any]) -> Decision:
        """Judge one call of ``tool`` with ``arguments``."""
        if self.tools is not None and tool.name not in self.tools:
            allowed = ", ".join(self.tools) or "none"
            return _refuse(f"the tool '{tool.name}' is not in this agent's allowlist ({allowed})")
        for name, bound in self.bounds.get(tool.name, {}).items():
            if name in arguments:
                reason = _breaks(bound, arguments[name])
                if reason:
                    return _refuse(f"argument '{name}' of '{tool.name}' {reason}")
        if tool.destructive and self.approve_destructive:
            return Decision(
                verdict=Verdict.APPROVE, reason=f"'{tool.name}' is destructive: it needs approval"
            )
        return Decision(verdict=Verdict.ALLOW)


def _refuse(reason: str) -> Decision:
    return Decision(verdict=Verdict.REFUSE, reason=reason)


def _breaks(bound: Bound, value: Any) -> str:
    if value in bound.forbidden:
        return f"is {value!r}, a forbidden value"
    if isinstance(value, int | float) and not isinstance(value, bool):
        if bound.min is not None and value < bound.min:
            return f"is {value}, below its minimum {bound.min:g}"
        if bound.max is not None and value > bound.max:
            return f"is {value}, above its maximum {bound.max:g}"
    return _too_long(bound, value)


def _too_long(bound: Bound, value: Any) -> str:
    if not isinstance(value, str | list) or bound.max_length is None:
        return ""
    if len(value) > bound.max_length:
        return f"has length {len(value)}, above its maximum {bound.max_length}"
    return ""
