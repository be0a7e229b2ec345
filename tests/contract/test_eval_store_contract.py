"""The one suite every eval-store adapter passes: memory, SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses

import pytest

from berth import errors
from berth.db.evals import SqlEvalStore
from berth.db.stores import stores_for
from berth.evals.memory import MemoryEvalStore
from berth.evals.records import (
    EVAL_ID_PREFIX,
    ITEM_ID_PREFIX,
    RUN_ID_PREFIX,
    CriterionResult,
    Eval,
    EvalRun,
    OutputItem,
    ResultCounts,
    RunStatus,
)
from berth.evals.store import EvalStore
from berth.ids import new_id
from berth.jobs.store import JobStore

pytestmark = pytest.mark.contract
NOW = 1_800_000_000.0
CONFIG = {
    "type": "custom",
    "item_schema": {"type": "object", "properties": {"q": {"type": "string"}}},
    "include_sample_schema": True,
}
CRITERIA = [
    {
        "type": "string_check",
        "name": "exact",
        "input": "{{sample.output_text}}",
        "reference": "{{item.a}}",
        "operation": "eq",
    }
]


def make_eval(owner: str | None = "key_a") -> Eval:
    return Eval(new_id(EVAL_ID_PREFIX), "golden", CONFIG, CRITERIA, NOW, {"team": "ml"}, owner)


def make_run(eval_id: str, status: RunStatus = RunStatus.QUEUED) -> EvalRun:
    source = {"type": "jsonl", "source": {"type": "file_id", "id": "file-abc"}}
    return EvalRun(
        new_id(RUN_ID_PREFIX), eval_id, "run", source, status, NOW, "echo", None,
        metadata={"k": "v"}, owner="key_a",
    )  # fmt: skip


def make_item(run: EvalRun, index: int, status: str = "pass") -> OutputItem:
    results = [{"name": "exact", "type": "string_check", "score": 1.0, "passed": True}]
    return OutputItem(
        new_id(ITEM_ID_PREFIX), run.id, run.eval_id, index, {"q": f"q{index}", "a": "4"},
        {"output": [{"role": "assistant", "content": "4"}], "output_text": "4"}, results,
        status == "pass", NOW + index, status == "error",
    )  # fmt: skip


@pytest.fixture
def evals(store: JobStore, store_kind: str) -> EvalStore:
    found = stores_for(store).evals
    assert isinstance(found, MemoryEvalStore if store_kind == "memory" else SqlEvalStore)
    return found


async def test_an_eval_round_trips_lists_by_owner_and_cursor_and_updates(
    evals: EvalStore,
) -> None:
    made = [make_eval("key_a"), make_eval("key_b"), make_eval(None), make_eval("key_a")]
    for record in made:
        await evals.add_eval(record)
    assert await evals.get_eval(made[0].id) == made[0]
    ids = [record.id for record in made]
    assert [e.id for e in await evals.list_evals()] == ids[::-1]
    assert [e.id for e in await evals.list_evals(newest_first=False)] == ids
    assert [e.id for e in await evals.list_evals(owner="key_a")] == [ids[3], ids[0]]
    assert [e.id for e in await evals.list_evals(after=ids[2])] == [ids[1], ids[0]]
    assert [e.id for e in await evals.list_evals(after=ids[1], newest_first=False)] == ids[2:]
    assert [e.id for e in await evals.list_evals(limit=1)] == [ids[3]]
    renamed = dataclasses.replace(made[1], name="renamed", metadata={"x": "y"})
    await evals.update_eval(renamed)
    assert await evals.get_eval(made[1].id) == renamed


async def test_runs_round_trip_list_by_status_and_record_their_progress(
    evals: EvalStore,
) -> None:
    parent, other = make_eval(), make_eval()
    await evals.add_eval(parent)
    await evals.add_eval(other)
    runs = [make_run(parent.id), make_run(parent.id, RunStatus.COMPLETED), make_run(other.id)]
    for run in runs:
        await evals.add_run(run)
    assert await evals.get_run(runs[0].id) == runs[0]
    assert [r.id for r in await evals.list_runs(parent.id)] == [runs[1].id, runs[0].id]
    assert [r.id for r in await evals.list_runs(parent.id, newest_first=False, limit=1)] == [
        runs[0].id
    ]
    done = await evals.list_runs(parent.id, status=RunStatus.COMPLETED)
    assert [r.id for r in done] == [runs[1].id]
    assert [r.id for r in await evals.list_runs(parent.id, after=runs[1].id)] == [runs[0].id]
    progressed = dataclasses.replace(
        runs[0],
        status=RunStatus.FAILED,
        job_id="job_x",
        result_counts=ResultCounts(3, 1, 1, 1),
        per_testing_criteria_results=(CriterionResult("exact", 1, 1),),
        error={"code": "x", "message": "y"},
        per_model_usage=({"model_name": "echo", "invocation_count": 3, "total_tokens": 9},),
    )
    await evals.update_run(progressed)
    assert await evals.get_run(runs[0].id) == progressed


async def test_items_are_one_per_index_listed_by_status_and_go_with_their_run(
    evals: EvalStore,
) -> None:
    parent = make_eval()
    await evals.add_eval(parent)
    run = make_run(parent.id)
    await evals.add_run(run)
    items = [make_item(run, 2), make_item(run, 0, "fail"), make_item(run, 1, "error")]
    for item in items:
        assert await evals.add_item(item) is True
    assert await evals.add_item(make_item(run, 0)) is False, "index 0 is taken"
    assert await evals.get_item(items[1].id) == items[1]
    assert [i.index for i in await evals.all_items(run.id)] == [0, 1, 2]
    assert [i.id for i in await evals.list_items(run.id)] == [i.id for i in items[::-1]]
    assert [i.id for i in await evals.list_items(run.id, status="fail")] == [items[1].id]
    assert [i.status for i in await evals.list_items(run.id, newest_first=False)] == [
        "pass", "fail", "error",
    ]  # fmt: skip
    page = await evals.list_items(run.id, after=items[0].id, newest_first=False, limit=1)
    assert [i.id for i in page] == [items[1].id]
    assert await evals.delete_run(run.id) == run
    assert await evals.all_items(run.id) == []
    with pytest.raises(errors.UnknownOutputItem, match=items[0].id):
        await evals.get_item(items[0].id)


async def test_deleting_an_eval_takes_its_runs_and_unknown_ids_raise(evals: EvalStore) -> None:
    parent = make_eval()
    await evals.add_eval(parent)
    run = make_run(parent.id)
    await evals.add_run(run)
    await evals.add_item(make_item(run, 0))
    assert await evals.delete_eval(parent.id) == parent
    for call in (evals.get_eval(parent.id), evals.delete_eval(parent.id)):
        with pytest.raises(errors.UnknownEval, match=parent.id):
            await call
    with pytest.raises(errors.UnknownEvalRun, match=run.id):
        await evals.get_run(run.id)
    assert await evals.list_runs(parent.id) == []
    with pytest.raises(errors.UnknownEval):
        await evals.add_run(make_run(parent.id))
    with pytest.raises(errors.UnknownEvalRun):
        await evals.add_item(make_item(run, 1))
    with pytest.raises(errors.UnknownEvalRun):
        await evals.update_run(run)
