"""An eval run survives kill -9 without redoing the samples it finished.

A real ``berth worker`` runs a completions eval of 160 rows on a slow echo model (each batch
takes a while, so the run is mid-way when it dies) and is killed with SIGKILL once some
samples are recorded. A second worker claims the job when its lease expires. At the end every
row has exactly one output item; the items recorded before the kill are unchanged (same id,
same time, made by attempt 1), and the second attempt sent to the model only the rows that had
none: its own count of samples made equals the rows left, and every item it made says attempt 2.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from berth.app import Berth
from berth.evals.records import EvalRun, OutputItem, RunStatus
from berth.jobs.job import JobStatus
from berth.settings import Settings
from tests.integration.worker_process import WorkerProcess, worker_env

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(240)]

ROWS = 160
KILL_AFTER = 24
SETTINGS = {
    "BERTH_LEASE_SECONDS": "1.5",
    "BERTH_HEARTBEAT_SECONDS": "0.3",
    "BERTH_REAP_SECONDS": "0.3",
    "BERTH_POLL_SECONDS": "0.2",
    "BERTH_DRAIN_SECONDS": "5",
}
CATALOG = """
[models.slow-echo]
task = "chat"
runner = "echo"
source = "none:"
[models.slow-echo.options]
transport = "thread"
max_batch_size = 2
runner_options = { delay_ms = 60 }
"""
CONFIG = {
    "type": "custom",
    "item_schema": {"type": "object", "properties": {"q": {"type": "string"}}},
    "include_sample_schema": True,
}
CRITERIA = [
    {"type": "string_check", "name": "echoed", "input": "{{sample.output_text}}",
     "reference": "{{item.q}}", "operation": "eq"},
]  # fmt: skip


async def items_of(berth: Berth, run: EvalRun) -> list[OutputItem]:
    return await berth.stores.evals.all_items(run.id)


async def wait_for_items(berth: Berth, run: EvalRun, count: int, worker: WorkerProcess) -> None:
    async with asyncio.timeout(90):
        while len(await items_of(berth, run)) < count:
            assert worker.process.poll() is None, worker.log()
            await asyncio.sleep(0.02)


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
async def test_a_killed_eval_resumes_without_redoing_finished_samples(
    kind: str, store_url_factory: Callable[[str], str], tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "catalog.toml").write_text(CATALOG)
    url = store_url_factory(kind)
    env = worker_env(home, url, SETTINGS)
    started: list[WorkerProcess] = []
    async with Berth(Settings(home=home, database_url=url)) as berth:
        evals = berth.services.evals
        made = await evals.create(None, data_source_config=CONFIG, testing_criteria=CRITERIA)
        content = [{"item": {"q": f"row {i}"}} for i in range(ROWS)]
        source = {
            "type": "completions",
            "model": "slow-echo",
            "source": {"type": "file_content", "content": content},
            "input_messages": {
                "type": "template",
                "template": [{"role": "user", "content": "{{item.q}}"}],
            },
        }
        run = await evals.create_run(None, made.id, data_source=source)
        assert run.job_id is not None
        try:
            first = WorkerProcess(env, home / "worker-1.log")
            started.append(first)
            await wait_for_items(berth, run, KILL_AFTER, first)
            first.kill()
            await asyncio.sleep(0.2)
            before = {item.index: item for item in await items_of(berth, run)}
            assert KILL_AFTER <= len(before) < ROWS, "the kill should land mid-run"
            second = WorkerProcess(env, home / "worker-2.log")
            started.append(second)
            job = await berth.services.jobs.follow(None, run.job_id, poll_seconds=0.1)
            assert await second.stop() == 0, second.log()
        finally:
            for worker in started:
                worker.close()
        done = await evals.get_run(None, made.id, run.id)
        after = await items_of(berth, run)

    assert job.status is JobStatus.SUCCEEDED and job.attempts == 2, job.error
    assert done.status is RunStatus.COMPLETED
    assert done.result_counts.as_json() == {
        "total": ROWS,
        "passed": ROWS,
        "failed": 0,
        "errored": 0,
    }
    assert [item.index for item in after] == list(range(ROWS)), "one item per row, none twice"
    for item in after:
        if item.index in before:
            assert item == before[item.index], "a finished sample was redone"
            assert item.sample["attempt"] == 1
        else:
            assert item.sample["attempt"] == 2
    assert job.result is not None
    assert job.result["resumed_with"] == len(before)
    assert job.result["sampled"] == ROWS - len(before), "the resumed run sampled only the rest"
    print(f"\neval crash ({kind}): {len(before)} of {ROWS} samples done at the kill, "
          f"{job.result['sampled']} sampled after it")  # fmt: skip
    assert [line for worker in started for line in worker.errors()] == []
