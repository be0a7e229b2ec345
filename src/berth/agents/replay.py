"""Golden replay: a recorded trace re-run against the current model, turn by turn, with the
tools stubbed from the trace (each turn sees the recorded conversation before it), reporting
the turns whose decisions differ: other calls (name or arguments), or another answer."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from berth import errors
from berth.agents.turns import AgentSpec, generate, opening
from berth.tasks.calls import ModelCalls
from berth.tasks.generate import ChatMessage, ToolCall

NO_RESULT = {"error": "The trace has no result for this call."}


@dataclass(frozen=True)
class TurnReplay:
    """One turn: what the trace decided, what the model decides now, whether they agree."""

    turn: int
    recorded: list[Any]
    now: list[Any]

    @property
    def same(self) -> bool:
        return self.recorded == self.now


def read_trace(path: Path) -> list[dict[str, Any]]:
    """The lines of a ``trace.jsonl``; raises InvalidRequest naming a line that is wrong."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise errors.InvalidRequest(f"Cannot read the trace {path}: {exc.strerror}.") from exc
    lines = []
    for number, line in enumerate(text.splitlines(), 1):
        try:
            lines.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise errors.InvalidRequest(
                f"{path} line {number} is not JSON ({exc.msg}). Give the trace.jsonl an agent "
                "job wrote."
            ) from exc
    if not lines or lines[0].get("type") != "start":
        raise errors.InvalidRequest(
            f"{path} does not begin with a 'start' step: it is not an agent run's trace.jsonl."
        )
    return lines


def decisions(turn: dict[str, Any]) -> list[Any]:
    """A turn's decisions: its calls (name, parsed arguments), or its answer's text."""
    if not turn["calls"]:
        return [["answer", turn["content"].strip()]]
    return [[c["name"], _parsed(c["arguments"])] for c in turn["calls"]]


def _parsed(arguments: str) -> Any:
    try:
        return json.loads(arguments or "{}")
    except json.JSONDecodeError:
        return arguments


async def replay(
    lines: list[dict[str, Any]], models: ModelCalls, model: str | None = None
) -> list[TurnReplay]:
    """Each recorded turn generated again (by ``model``, or the recorded one)."""
    spec, specs = AgentSpec.recorded(lines[0])
    if model is not None:
        spec = replace(spec, model=model)
    results = {line["call_id"]: line["output"] for line in lines if line["type"] == "tool_result"}
    turns = sorted((line for line in lines if line["type"] == "model_turn"), key=_turn)
    messages, used, report = opening(spec), 0, []
    for recorded in turns:
        now = await generate(models, spec, specs, messages, recorded["turn"], used)
        report.append(TurnReplay(recorded["turn"], decisions(recorded), decisions(now)))
        messages.extend(_recorded_messages(recorded, results))
        used += int(recorded["tokens"])
    return report


def _turn(line: dict[str, Any]) -> int:
    return int(line["turn"])


def _recorded_messages(turn: dict[str, Any], results: dict[str, Any]) -> list[ChatMessage]:
    calls = tuple(ToolCall(c["id"], c["name"], c["arguments"]) for c in turn["calls"])
    said = [ChatMessage("assistant", turn["content"], tool_calls=calls)]
    for call in calls:
        output = results.get(call.id, NO_RESULT)
        said.append(ChatMessage("tool", json.dumps(output), tool_call_id=call.id, name=call.name))
    return said
