"""The agent loop on a scripted model (the fake ModelCalls) and the in-memory step store:
guardrails refuse, a destructive call waits for approval, a resumed run replays its steps
without calling the model or a finished tool again and does not repeat an interrupted
non-idempotent call."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from berth.agents.guardrails import Bound, Guardrails
from berth.agents.journal import Journal
from berth.agents.loop import AgentLoop
from berth.agents.memory import MemoryStepStore
from berth.agents.registry import ToolRegistry
from berth.agents.steps import Step
from berth.agents.tool import JsonObject, Tool, ToolContext
from berth.agents.turns import AgentSpec
from berth.tasks.fake import FakeModelCalls
from berth.tasks.generate import Generation, GenerationRequest

pytestmark = pytest.mark.unit
SCHEMA: JsonObject = {
    "type": "object",
    "properties": {"amount": {"type": "number"}},
    "required": ["amount"],
}


def call(name: str, **arguments: Any) -> str:
    return f'<tool_call>{{"name": "{name}", "arguments": {json.dumps(arguments)}}}</tool_call>'


class Script:
    """A model that says the next line of its script each turn."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.turns = 0

    def __call__(self, item: object) -> Generation:
        assert isinstance(item, GenerationRequest)
        line = self.lines[min(self.turns, len(self.lines) - 1)]
        self.turns += 1
        return Generation(line, "stop", 10, 5)


class Ledger:
    def __init__(self) -> None:
        self.moves: list[float] = []

    async def __call__(self, arguments: JsonObject, ctx: ToolContext) -> Any:
        self.moves.append(arguments["amount"])
        return {"moved": arguments["amount"]}


async def no_pause(seconds: float) -> None:
    await asyncio.sleep(min(seconds, 0.01))


def make_loop(
    tmp_path: Path,
    store: MemoryStepStore,
    script: Script,
    ledger: Ledger,
    rails: Guardrails,
    *,
    destructive: bool = False,
) -> AgentLoop:
    registry = ToolRegistry()
    registry.add(Tool("transfer", "Move money.", SCHEMA, call=ledger, destructive=destructive))
    spec = AgentSpec("scripted", "sys", "pay bob", ("transfer",), rails)

    async def announce(step: Step) -> None:
        return None

    journal = Journal("job-1", store, tmp_path / "trace.jsonl", announce)
    models = FakeModelCalls({"scripted": script})
    return AgentLoop(spec, journal, registry, models, ToolContext(), no_pause)


async def run(loop: AgentLoop) -> dict[str, Any]:
    await loop.journal.load()
    return await loop.run()


def types(steps: list[Step]) -> list[str]:
    return [s.type for s in steps]


async def test_a_run_calls_its_tool_then_answers_and_traces_every_step(tmp_path: Path) -> None:
    store, ledger = MemoryStepStore(), Ledger()
    script = Script([call("transfer", amount=5), "Paid."])
    result = await run(make_loop(tmp_path, store, script, ledger, Guardrails()))
    assert result["stop"] == "answered" and result["output"] == "Paid."
    assert ledger.moves == [5]
    steps = await store.steps("job-1")
    assert types(steps) == [
        "start",
        "model_turn",
        "guardrail",
        "tool_call",
        "tool_result",
        "model_turn",
        "final",
    ]
    lines = [json.loads(x) for x in (tmp_path / "trace.jsonl").read_text().splitlines()]
    assert [line["type"] for line in lines] == types(steps)
    assert lines[4]["output"] == {"moved": 5} and "seconds" in lines[4]
    assert lines[0]["tool_specs"][0]["name"] == "transfer"


async def test_a_guardrail_refuses_a_bound_breaking_argument(tmp_path: Path) -> None:
    store, ledger = MemoryStepStore(), Ledger()
    rails = Guardrails(bounds={"transfer": {"amount": Bound(max=100)}})
    script = Script([call("transfer", amount=1000), "I may not."])
    result = await run(make_loop(tmp_path, store, script, ledger, rails))
    assert ledger.moves == [], "the refused call ran"
    steps = await store.steps("job-1")
    guard = next(s for s in steps if s.type == "guardrail")
    assert guard.data["verdict"] == "refuse"
    assert "above its maximum 100" in guard.data["reason"]
    refused = next(s for s in steps if s.type == "tool_result")
    assert refused.data["refused"] is True and "guardrail" in refused.data["output"]["error"]
    assert result["stop"] == "answered"


async def test_max_turns_stops_a_model_that_keeps_calling(tmp_path: Path) -> None:
    store, ledger = MemoryStepStore(), Ledger()
    script = Script([call("transfer", amount=1)])
    result = await run(make_loop(tmp_path, store, script, ledger, Guardrails(max_turns=3)))
    assert result["stop"] == "max_turns" and script.turns == 3 and len(ledger.moves) == 3


async def test_max_tokens_stops_the_run(tmp_path: Path) -> None:
    store, ledger = MemoryStepStore(), Ledger()
    script = Script([call("transfer", amount=1)])
    result = await run(make_loop(tmp_path, store, script, ledger, Guardrails(max_tokens=10)))
    assert result["stop"] == "max_tokens" and script.turns == 2


async def test_a_destructive_call_waits_for_approval_and_goes_on(tmp_path: Path) -> None:
    store, ledger = MemoryStepStore(), Ledger()
    script = Script([call("transfer", amount=5), "Done."])
    loop = make_loop(tmp_path, store, script, ledger, Guardrails(), destructive=True)
    task = asyncio.create_task(run(loop))
    async with asyncio.timeout(10):
        while "approval_wait" not in types(await store.steps("job-1")):
            await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)
    assert ledger.moves == [] and not task.done(), "the call ran before it was approved"
    wait = next(s for s in await store.steps("job-1") if s.type == "approval_wait")
    await store.append("job-1", "approval", {"call_id": wait.data["call_id"], "approved": True})
    result = await asyncio.wait_for(task, 10)
    assert ledger.moves == [5] and result["output"] == "Done."


async def test_a_denied_call_does_not_run(tmp_path: Path) -> None:
    store, ledger = MemoryStepStore(), Ledger()
    script = Script([call("transfer", amount=5), "Not paid."])
    loop = make_loop(tmp_path, store, script, ledger, Guardrails(), destructive=True)
    task = asyncio.create_task(run(loop))
    async with asyncio.timeout(10):
        while "approval_wait" not in types(await store.steps("job-1")):
            await asyncio.sleep(0.01)
    wait = next(s for s in await store.steps("job-1") if s.type == "approval_wait")
    data = {"call_id": wait.data["call_id"], "approved": False, "by": "ops", "reason": "no"}
    await store.append("job-1", "approval", data)
    await asyncio.wait_for(task, 10)
    assert ledger.moves == []
    result = next(s for s in await store.steps("job-1") if s.type == "tool_result")
    assert result.data["output"]["error"] == "Denied by ops: no."


async def test_a_resumed_run_replays_its_steps_and_does_not_repeat_calls(tmp_path: Path) -> None:
    store, ledger = MemoryStepStore(), Ledger()
    script = Script([call("transfer", amount=1), call("transfer", amount=2), "Done."])
    first = make_loop(tmp_path, store, script, ledger, Guardrails())
    await run(first)
    recorded = await store.steps("job-1")
    cut = [s for s in recorded if s.type == "tool_call"][1]
    kept = MemoryStepStore()
    for step in recorded:
        if step.seq <= cut.seq:
            await kept.append("job-1", step.type, step.data)
    again, replayed = Script(["Done."]), Ledger()
    result = await run(make_loop(tmp_path, kept, again, replayed, Guardrails()))
    assert replayed.moves == [], "a recorded or interrupted non-idempotent call ran again"
    interrupted = [s for s in await kept.steps("job-1") if s.data.get("interrupted")]
    assert len(interrupted) == 1 and interrupted[0].data["call_id"] == cut.data["call_id"]
    assert again.turns == 1, "a recorded model turn was generated again"
    assert result["output"] == "Done."


async def test_the_kill_switch_stops_a_run_waiting_for_approval(tmp_path: Path) -> None:
    from berth import errors

    store, ledger = MemoryStepStore(), Ledger()
    script = Script([call("transfer", amount=5), "Done."])
    loop = make_loop(tmp_path, store, script, ledger, Guardrails(), destructive=True)
    stopped = asyncio.Event()

    async def pause(seconds: float) -> None:
        if stopped.is_set():
            raise errors.JobCancelled("asked to stop")
        await asyncio.sleep(min(seconds, 0.01))

    loop.sleep = pause
    task = asyncio.create_task(run(loop))
    async with asyncio.timeout(10):
        while "approval_wait" not in types(await store.steps("job-1")):
            await asyncio.sleep(0.01)
    stopped.set()
    with pytest.raises(errors.JobCancelled):
        await asyncio.wait_for(task, 10)
    assert ledger.moves == [] and "final" not in types(await store.steps("job-1"))
