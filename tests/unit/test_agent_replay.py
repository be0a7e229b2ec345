"""Golden replay on a scripted model: a trace replayed against the same decisions agrees at
every turn; against a model that decides otherwise it reports the turn where they part."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from berth import errors
from berth.agents.guardrails import Guardrails
from berth.agents.memory import MemoryStepStore
from berth.agents.replay import read_trace, replay
from berth.tasks.fake import FakeModelCalls
from tests.unit.test_agent_loop import Ledger, Script, call, make_loop, run

pytestmark = pytest.mark.unit
LINES = [call("transfer", amount=1), call("transfer", amount=2), "Done."]


async def recorded_trace(tmp_path: Path) -> Path:
    loop = make_loop(tmp_path, MemoryStepStore(), Script(LINES), Ledger(), Guardrails())
    await run(loop)
    return tmp_path / "trace.jsonl"


async def test_a_replay_of_the_same_decisions_agrees_at_every_turn(tmp_path: Path) -> None:
    lines = read_trace(await recorded_trace(tmp_path))
    turns = await replay(lines, FakeModelCalls({"scripted": Script(LINES)}))
    assert [t.turn for t in turns] == [0, 1, 2]
    assert all(t.same for t in turns)
    assert turns[1].recorded == [["transfer", {"amount": 2}]]
    assert turns[2].now == [["answer", "Done."]]


async def test_a_replay_reports_where_the_decisions_diverge(tmp_path: Path) -> None:
    lines = read_trace(await recorded_trace(tmp_path))
    other = Script([call("transfer", amount=1), call("transfer", amount=3), "Done."])
    turns = await replay(lines, FakeModelCalls({"other": other}), model="other")
    assert [t.same for t in turns] == [True, False, True]
    assert turns[1].now == [["transfer", {"amount": 3}]]


async def test_the_replayed_turns_see_the_recorded_tool_results(tmp_path: Path) -> None:
    lines = read_trace(await recorded_trace(tmp_path))
    seen = []

    def spy(item: object) -> object:
        seen.append(item)
        return Script(LINES)(item)

    await replay(lines, FakeModelCalls({"scripted": spy}))
    last = seen[-1].messages  # type: ignore[attr-defined]
    tool_outputs = [json.loads(m.content) for m in last if m.role == "tool"]
    assert tool_outputs == [{"moved": 1}, {"moved": 2}]


def test_a_file_that_is_not_a_trace_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"type": "model_turn"}\n')
    with pytest.raises(errors.InvalidRequest, match="does not begin with a 'start' step"):
        read_trace(bad)
    bad.write_text("{nope\n")
    with pytest.raises(errors.InvalidRequest, match="line 1 is not JSON"):
        read_trace(bad)
    with pytest.raises(errors.InvalidRequest, match="Cannot read the trace"):
        read_trace(tmp_path / "missing.jsonl")
