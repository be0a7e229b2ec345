"""One model turn of an agent: the request (tools through the existing tool plan, so calls
are valid by construction), the model's output read back into content and calls. Shared by
the loop and by golden replay."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from berth import tooluse
from berth.agents.guardrails import Guardrails
from berth.agents.tool import Tool
from berth.callreader import CallReader, Content
from berth.tasks.calls import ModelCalls
from berth.tasks.generate import GENERATE, ChatMessage, GenerationRequest, ToolSpec


@dataclass(frozen=True)
class AgentSpec:
    """What one run is: model, prompts, tools and guardrails, and how the model samples."""

    model: str
    system: str
    input: str
    tools: tuple[str, ...]
    guardrails: Guardrails
    tool_choice: Literal["auto", "required"] = "auto"
    parallel: bool = True
    turn_tokens: int = 256
    temperature: float = 0.0
    seed: int | None = None

    def record(self, specs: Sequence[ToolSpec]) -> dict[str, Any]:
        """The spec as the run's ``start`` step (with the tools' schemas, for replay)."""
        return {
            "model": self.model,
            "system": self.system,
            "input": self.input,
            "tools": list(self.tools),
            "guardrails": self.guardrails.model_dump(),
            "tool_choice": self.tool_choice,
            "parallel": self.parallel,
            "turn_tokens": self.turn_tokens,
            "temperature": self.temperature,
            "seed": self.seed,
            "tool_specs": [
                {"name": s.name, "description": s.description, "parameters": s.parameters}
                for s in specs
            ],
        }

    @classmethod
    def recorded(cls, data: dict[str, Any]) -> tuple[AgentSpec, list[ToolSpec]]:
        """A spec and its tools back from a ``start`` step."""
        spec = cls(
            model=data["model"],
            system=data["system"],
            input=data["input"],
            tools=tuple(data["tools"]),
            guardrails=Guardrails.model_validate(data["guardrails"]),
            tool_choice=data["tool_choice"],
            parallel=data.get("parallel", True),
            turn_tokens=data["turn_tokens"],
            temperature=data["temperature"],
            seed=data["seed"],
        )
        return spec, [ToolSpec(**t) for t in data["tool_specs"]]


def tool_specs(tools: Sequence[Tool]) -> list[ToolSpec]:
    """The tools as a chat request shows them."""
    return [ToolSpec(t.name, t.description, json.dumps(t.input_schema)) for t in tools]


def opening(spec: AgentSpec) -> list[ChatMessage]:
    """The conversation before the first turn."""
    return [ChatMessage("system", spec.system), ChatMessage("user", spec.input)]


async def generate(
    models: ModelCalls,
    spec: AgentSpec,
    specs: Sequence[ToolSpec],
    messages: Sequence[ChatMessage],
    turn: int,
    used: int,
) -> dict[str, Any]:
    """One turn's output: the text, its content and calls, tokens and time."""
    choice = spec.tool_choice if specs else "none"
    # The plan checks schemas with xgrammar, whose first import takes seconds: off the loop.
    plan = await asyncio.to_thread(
        tooluse.plan, specs, choice, spec.parallel, tooluse.OutputFormat()
    )
    left = spec.guardrails.max_tokens - used
    request = GenerationRequest(
        messages=tuple(messages),
        max_tokens=max(1, min(spec.turn_tokens, left)),
        temperature=spec.temperature,
        seed=None if spec.seed is None else spec.seed + turn,
        tools=plan.tools,
        grammar=plan.grammar,
    )
    started = time.monotonic()
    [generation] = await models.run(spec.model, GENERATE, [request])
    reader = CallReader(plan.reading, plan.parallel)
    events = reader.feed(generation.text) + reader.finish()
    return {
        "turn": turn,
        "text": generation.text,
        "content": "".join(e.text for e in events if isinstance(e, Content)),
        "calls": [
            {"id": c.id, "name": c.name, "arguments": c.arguments} for c in reader.tool_calls()
        ],
        "tokens": generation.completion_tokens,
        "finish_reason": generation.finish_reason,
        "seconds": round(time.monotonic() - started, 4),
    }
