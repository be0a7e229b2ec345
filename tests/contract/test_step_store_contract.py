"""The one suite every agent step store adapter passes: memory, SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from berth.agents.memory import MemoryStepStore
from berth.agents.steps import StepStore
from berth.db.agents import SqlStepStore
from berth.db.stores import stores_for
from berth.jobs.job import NewJob
from berth.jobs.store import JobStore

pytestmark = pytest.mark.contract


@pytest.fixture
def steps(store: JobStore, store_kind: str) -> StepStore:
    found = stores_for(store).agent_steps
    assert isinstance(found, MemoryStepStore if store_kind == "memory" else SqlStepStore)
    return found


async def test_steps_come_back_in_order_per_run_with_their_data(
    store: JobStore, steps: StepStore
) -> None:
    one = (await store.submit(NewJob("echo", 1))).job.id
    two = (await store.submit(NewJob("echo", 2))).job.id
    first = await steps.append(one, "model_turn", {"turn": 0, "calls": [{"id": "c1"}]})
    await steps.append(two, "start", {"model": "m"})
    second = await steps.append(one, "tool_result", {"call_id": "c1", "output": {"n": 1.5}})
    assert second.seq > first.seq
    got = await steps.steps(one)
    assert [s.seq for s in got] == [first.seq, second.seq]
    assert got[1].data == {"call_id": "c1", "output": {"n": 1.5}} and got[1].job_id == one
    assert got == [first, second]
    assert await steps.steps(one, after=first.seq) == [second]
    assert [s.type for s in await steps.steps(two)] == ["start"]
    assert await steps.steps("job-none") == []
