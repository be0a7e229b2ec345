"""Schemas of ``/v1/agents``: runs with their steps, approvals, tools."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from berth.agents.steps import Step


class StepObject(BaseModel):
    """One recorded step of a run (a line of its ``trace.jsonl``)."""

    seq: int
    type: str
    at: float
    data: dict[str, Any]

    @classmethod
    def of(cls, step: Step) -> StepObject:
        return cls(seq=step.seq, type=step.type, at=step.at, data=step.data)


class AgentRunObject(BaseModel):
    """An agent run: its job's id and status, its steps, the calls waiting for approval."""

    object: str = "agent.run"
    id: str
    status: str
    model: str | None
    steps: list[StepObject]
    waiting: list[dict[str, Any]]
    result: Any = None


class Decision(BaseModel):
    """An approval or a denial of one waiting call."""

    model_config = ConfigDict(extra="forbid")

    approve: bool = Field(description="true lets the call run; false refuses it.")
    reason: str = Field(default="", max_length=2000, description="Why, shown to the model.")


class ToolObject(BaseModel):
    """A registered tool with its flags and its circuit breaker's state."""

    name: str
    description: str
    input_schema: dict[str, Any]
    timeout_s: float
    retry_attempts: int
    idempotent: bool
    destructive: bool
    source: str
    breaker: str


class ToolSourceObject(BaseModel):
    """A source of tools from the settings (an entry of ``BERTH_MCP_SERVERS``): ``ok`` with
    the tools it gave, or ``failed`` with why."""

    name: str
    kind: str
    status: str
    tools: list[str]
    error: str | None = None
    note: str | None = None


class ToolList(BaseModel):
    object: str = "list"
    data: list[ToolObject]
    sources: list[ToolSourceObject] = Field(
        default_factory=list, description="The settings' MCP servers and how each loaded."
    )
