"""The ``agent`` job kind: a tool-using agent run as a durable job.

Input: a system prompt, the user's input, the tools the agent may call (by registered name:
a submit naming one that is not registered, or one outside ``guardrails.tools``, is refused),
its guardrails, and sampling settings; the job's ``model`` is the chat model (a catalog
alias). The loop (:mod:`berth.agents.loop`) records every step in the step store before it acts
on it, writes each as a line of the ``trace.jsonl`` artifact and as a progress event, and on a
retry after a crash (kill -9 included) resumes from the last step recorded, without making a
finished tool call again or a started non-idempotent one. Cancel the job to stop the run (the
kill switch); a destructive call waits for an approval (``POST /v1/agents/runs/{id}/approvals``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from berth import errors
from berth.agents.guardrails import Guardrails
from berth.agents.host import AgentHost
from berth.agents.journal import TRACE, Journal
from berth.agents.loop import AgentLoop
from berth.agents.registry import ToolRegistry
from berth.agents.steps import Step
from berth.agents.tool import ToolContext
from berth.agents.turns import AgentSpec
from berth.hookspecs import Registry
from berth.jobs.context import JobContext
from berth.jobs.kind import REGISTRY_CONTEXT, JobKind
from berth.tasks.generate import GENERATE

KIND = "agent"


class AgentInput(BaseModel):
    """Input of the ``agent`` kind."""

    model_config = ConfigDict(extra="forbid")

    system: str = Field(default="You are a helpful assistant.", max_length=20_000)
    input: str = Field(min_length=1, max_length=100_000, description="The user's message.")
    tools: list[str] = Field(default_factory=list, description="Registered tools it may call.")
    guardrails: Guardrails = Field(default_factory=Guardrails)
    tool_choice: Literal["auto", "required"] = "auto"
    parallel_tool_calls: bool = Field(default=True, description="Several calls in one turn.")
    turn_tokens: int = Field(default=256, ge=1, le=32_768)
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    seed: int | None = None

    @field_validator("tools")
    @classmethod
    def _registered(cls, tools: list[str], info: ValidationInfo) -> list[str]:
        """At submit (the registry in the context): every tool is registered."""
        registry = getattr((info.context or {}).get(REGISTRY_CONTEXT), "tools", None)
        if not isinstance(registry, ToolRegistry):
            return tools
        known = registry.names()
        unknown = [name for name in tools if name not in known]
        if unknown:
            raise PydanticCustomError(
                "unknown_tool",
                "no tool is registered as {unknown} (registered: {known}; `berth agents "
                "tools` lists them with their sources)",
                {"unknown": _quoted(unknown), "known": ", ".join(known) or "none"},
            )
        return tools

    @field_validator("guardrails")
    @classmethod
    def _allowed(cls, guardrails: Guardrails, info: ValidationInfo) -> Guardrails:
        """Every tool it is given is in its allowlist (when it has one)."""
        allowed = guardrails.tools
        if allowed is None:
            return guardrails
        outside = [t for t in info.data.get("tools", []) if t not in allowed]
        if outside:
            raise PydanticCustomError(
                "tool_not_allowed",
                "tools gives {outside}, which the allowlist guardrails.tools ({allowed}) does "
                "not allow: add it there, or take it out of tools",
                {"outside": _quoted(outside), "allowed": ", ".join(allowed) or "none"},
            )
        return guardrails


def _quoted(names: list[str]) -> str:
    return ", ".join(f"'{name}'" for name in names)


def _host(ctx: JobContext) -> AgentHost:
    host = getattr(ctx, "agents", None)
    if not isinstance(host, AgentHost):
        raise errors.BerthError(
            "Job kind 'agent' needs the tool registry and step store, but this dispatcher has "
            "none. Run it under `berth serve` or `berth worker`."
        )
    return host


def _spec(ctx: JobContext, params: AgentInput, host: AgentHost) -> AgentSpec:
    if ctx.job.model is None:
        raise errors.InvalidJobInput(
            "An agent job needs a model: set the job's model to a chat model "
            "(`berth models ls` lists them)."
        )
    host.tools.tools(params.tools)
    return AgentSpec(
        model=ctx.job.model,
        system=params.system,
        input=params.input,
        tools=tuple(params.tools),
        guardrails=params.guardrails,
        tool_choice=params.tool_choice,
        parallel=params.parallel_tool_calls,
        turn_tokens=params.turn_tokens,
        temperature=params.temperature,
        seed=params.seed,
    )


def _announcer(ctx: JobContext, spec: AgentSpec) -> Any:
    async def announce(step: Step) -> None:
        turn = step.data.get("turn")
        done = None if turn is None else min(1.0, (int(turn) + 1) / spec.guardrails.max_turns)
        what = step.data.get("tool") or step.data.get("stop") or ""
        await ctx.progress(done, f"{step.type} {what}".strip())

    return announce


def _pause(ctx: JobContext) -> Any:
    async def pause(seconds: float) -> None:
        ctx.check_cancelled()
        if seconds > 0:
            await ctx.sleep(seconds)

    return pause


async def run(ctx: JobContext, params: AgentInput) -> dict[str, Any]:
    """Run (or resume) the agent; the result is its final answer and why it stopped."""
    host = _host(ctx)
    spec = _spec(ctx, params, host)
    ctx.models.check(spec.model, GENERATE)
    journal = Journal(ctx.job.id, host.steps, ctx.output_dir / TRACE, _announcer(ctx, spec))
    recorded = await journal.load()
    tool_ctx = ToolContext(models=ctx.models, settings=host.settings)
    async with host.session(ctx.job.id):
        loop = AgentLoop(spec, journal, host.tools, ctx.models, tool_ctx, _pause(ctx))
        result = await loop.run()
    await ctx.add_artifact(TRACE, "application/jsonl")
    return {**result, "resumed_from_steps": len(recorded)}


def register(registry: Registry) -> None:
    """The ``agent`` kind, through the ``berth.kinds`` entry point."""
    registry.add_kind(
        JobKind(
            KIND,
            run,
            "Runs a tool-using agent as a durable job, with guardrails and a trace.",
            input_model=AgentInput,
            task=GENERATE,
        )
    )
