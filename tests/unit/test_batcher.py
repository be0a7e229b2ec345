"""The batcher, through a pool on the thread transport: how requests become batches."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from berth import errors
from berth.models.spec import ModelSpec
from berth.pool.batcher import SPLIT_AT, Batch, Batcher
from berth.pool.pool import ModelPool
from berth.pool.workers import MIN_PART
from berth.runners.contract import RunnerType
from berth.tasks.task import Task
from tests.pools import make_pool, spec

pytestmark = pytest.mark.unit


class RecordingRunner:
    """Echoes, taking ``delay_ms`` per batch, and records every batch it ran."""

    batches: list[list[Any]] = []
    lock = threading.Lock()

    def load(self, spec: ModelSpec, path: Path | None, device: str) -> None:
        self._delay = spec.options.runner_options.get("delay_ms", 0) / 1000

    def run(self, batch: Sequence[Any]) -> list[Any]:
        with self.lock:
            RecordingRunner.batches.append(list(batch))
        time.sleep(self._delay)
        if any(item == "bad" for item in batch):
            raise ValueError("bad input in this batch")
        if any(item == "short" for item in batch):
            return list(batch)[1:]
        return [f"out:{item}" for item in batch]

    def memory_bytes(self) -> int | None:
        return 0

    def close(self) -> None:
        pass


RECORDING = RunnerType("recording", RecordingRunner, frozenset(Task), "records batches")


class ConcurrentRunner(RecordingRunner):
    """A recording runner that may run several batches at once; notes how many did."""

    concurrent = True
    running = 0
    peak = 0

    def run(self, batch: Sequence[Any]) -> list[Any]:
        with self.lock:
            ConcurrentRunner.running += 1
            ConcurrentRunner.peak = max(ConcurrentRunner.peak, ConcurrentRunner.running)
        try:
            return super().run(batch)
        finally:
            with self.lock:
                ConcurrentRunner.running -= 1


CONCURRENT = RunnerType("concurrent", ConcurrentRunner, frozenset(Task), "runs batches at once")


@pytest.fixture
def batches() -> list[list[Any]]:
    RecordingRunner.batches = []
    return RecordingRunner.batches


async def open_pool(**options: Any) -> ModelPool:
    pool = make_pool([spec("m", runner="recording", **options)], extra=[RECORDING])
    await pool.open()
    await pool.load("m")
    return pool


@pytest.fixture
async def pool(request: pytest.FixtureRequest) -> AsyncIterator[ModelPool]:
    options = getattr(request, "param", {})
    opened = await open_pool(**options)
    yield opened
    await opened.close()


@pytest.mark.parametrize(
    "pool", [{"max_batch_size": 4, "runner_options": {"delay_ms": 30}}], indirect=True
)
async def test_concurrent_calls_gather_into_batches_up_to_the_maximum(
    pool: ModelPool, batches: list[list[Any]]
) -> None:
    results = await asyncio.gather(*(pool.run("m", [i]) for i in range(10)))
    assert results == [[f"out:{i}"] for i in range(10)]
    assert [len(batch) for batch in batches] == [4, 4, 2]
    assert sorted(item for batch in batches for item in batch) == list(range(10))


@pytest.mark.parametrize("pool", [{"max_wait_ms": 2000}], indirect=True)
async def test_a_call_to_an_idle_model_does_not_wait_for_a_batch(pool: ModelPool) -> None:
    started = time.perf_counter()
    assert await pool.run("m", ["alone"]) == ["out:alone"]
    assert time.perf_counter() - started < 0.2


@pytest.mark.parametrize(
    "pool", [{"max_wait_ms": 0, "runner_options": {"delay_ms": 200}}], indirect=True
)
async def test_calls_smaller_than_the_running_batch_wait_for_it_and_go_together(
    pool: ModelPool, batches: list[list[Any]]
) -> None:
    running = [asyncio.create_task(pool.run("m", [name])) for name in ("r1", "r2", "r3")]
    later = []
    for name in ("a", "b"):
        await asyncio.sleep(0.03)
        later.append(asyncio.create_task(pool.run("m", [name])))
    assert [await task for task in running] == [["out:r1"], ["out:r2"], ["out:r3"]]
    assert [await task for task in later] == [["out:a"], ["out:b"]]
    assert batches == [["r1", "r2", "r3"], ["a", "b"]]


@pytest.mark.parametrize(
    "pool", [{"max_wait_ms": 0, "runner_options": {"delay_ms": 200}}], indirect=True
)
async def test_a_next_batch_as_big_as_the_running_one_goes_ahead(
    pool: ModelPool, batches: list[list[Any]]
) -> None:
    """It waits in the model, to start the moment the running one ends; the calls after it
    wait for the next turn."""
    first = asyncio.create_task(pool.run("m", ["first"]))
    later = []
    for name in ("a", "b", "c"):
        await asyncio.sleep(0.03)
        later.append(asyncio.create_task(pool.run("m", [name])))
    assert await first == ["out:first"]
    assert [await task for task in later] == [["out:a"], ["out:b"], ["out:c"]]
    assert batches == [["first"], ["a"], ["b", "c"]]


@pytest.mark.parametrize(
    "pool", [{"max_batch_size": 64, "runner_options": {"delay_ms": 30}}], indirect=True
)
async def test_many_calls_to_an_idle_model_go_as_two_batches(
    pool: ModelPool, batches: list[list[Any]]
) -> None:
    """So that the answers of one half go out while the other half runs."""
    count = SPLIT_AT + 5
    results = await asyncio.gather(*(pool.run("m", [i]) for i in range(count)))
    assert results == [[f"out:{i}"] for i in range(count)]
    assert batches == [list(range(11)), list(range(11, count))]
    batches.clear()
    await asyncio.gather(*(pool.run("m", [i]) for i in range(SPLIT_AT - 1)))
    assert batches == [list(range(SPLIT_AT - 1))]


@pytest.mark.parametrize(
    "pool",
    [{"max_batch_size": 1, "max_queue": 2, "runner_options": {"delay_ms": 200}}],
    indirect=True,
)
async def test_past_max_queue_a_request_is_refused_and_the_queued_ones_go_on(
    pool: ModelPool, batches: list[list[Any]]
) -> None:
    running = asyncio.create_task(pool.run("m", ["running"]))
    await asyncio.sleep(0.05)
    # One more goes into the model's own queue (two batches at a time), then two wait here.
    names = ("q1", "q2", "q3")
    queued = [asyncio.create_task(pool.run("m", [name])) for name in names]
    await asyncio.sleep(0)
    with pytest.raises(errors.QueueFull, match="full: 2 waiting"):
        await pool.run("m", ["refused"])
    assert await running == ["out:running"]
    assert [await task for task in queued] == [[f"out:{name}"] for name in names]
    assert await pool.run("m", ["later"]) == ["out:later"]
    assert ["refused"] not in batches


async def test_workers_split_a_batch_between_them(batches: list[list[Any]]) -> None:
    ConcurrentRunner.peak = 0
    options = {"max_batch_size": 64, "workers": 2, "runner_options": {"delay_ms": 100}}
    pool = make_pool([spec("m", runner="concurrent", **options)], extra=[CONCURRENT])
    async with pool:
        items = [f"x{i}" for i in range(2 * MIN_PART + 1)]
        assert await pool.run("m", items) == [f"out:{item}" for item in items]
        assert ConcurrentRunner.peak == 2
        assert sorted(map(len, batches)) == [MIN_PART, MIN_PART + 1]
        assert sorted(item for part in batches for item in part) == sorted(items)
        batches.clear()
        few = [f"y{i}" for i in range(2 * MIN_PART - 1)]
        assert await pool.run("m", few) == [f"out:{item}" for item in few]
        assert batches == [few]  # too few for two parts of MIN_PART


async def test_a_failing_part_fails_its_whole_batch(batches: list[list[Any]]) -> None:
    options = {"max_batch_size": 64, "workers": 2}
    pool = make_pool([spec("m", runner="concurrent", **options)], extra=[CONCURRENT])
    async with pool:
        items = ["bad", *(f"x{i}" for i in range(2 * MIN_PART - 1))]
        with pytest.raises(ValueError, match="bad input"):
            await pool.run("m", items)
        assert len(batches) == 2
        assert await pool.run("m", ["after"]) == ["out:after"]


async def test_workers_need_a_runner_that_allows_them() -> None:
    pool = make_pool([spec("m", runner="recording", workers=2)], extra=[RECORDING])
    async with pool:
        with pytest.raises(errors.ModelLoadFailed, match="runs one batch at a time"):
            await pool.load("m")


@pytest.mark.parametrize("pool", [{"max_batch_size": 3}], indirect=True)
async def test_a_long_request_spans_batches_and_keeps_its_order(
    pool: ModelPool, batches: list[list[Any]]
) -> None:
    items = [f"x{i}" for i in range(8)]
    assert await pool.run("m", items) == [f"out:{item}" for item in items]
    assert [len(batch) for batch in batches] == [3, 3, 2]


@pytest.mark.parametrize(
    "pool", [{"max_batch_size": 2, "runner_options": {"delay_ms": 100}}], indirect=True
)
async def test_a_failing_batch_fails_only_its_callers(
    pool: ModelPool, batches: list[list[Any]]
) -> None:
    first = asyncio.create_task(pool.run("m", ["ok-1"]))
    await asyncio.sleep(0.03)
    bad = asyncio.create_task(pool.run("m", ["bad"]))
    unlucky = asyncio.create_task(pool.run("m", ["same-batch"]))
    results = await asyncio.gather(first, bad, unlucky, return_exceptions=True)
    assert results[0] == ["out:ok-1"]
    assert isinstance(results[1], ValueError) and isinstance(results[2], ValueError)
    assert await pool.run("m", ["ok-2"]) == ["out:ok-2"]
    assert batches == [["ok-1"], ["bad", "same-batch"], ["ok-2"]]


async def test_every_caller_gets_its_own_outputs(pool: ModelPool) -> None:
    calls = [[f"c{i}-{j}" for j in range(i % 3 + 1)] for i in range(40)]
    results = await asyncio.gather(*(pool.run("m", items) for items in calls))
    assert results == [[f"out:{item}" for item in items] for items in calls]


async def test_a_runner_that_miscounts_its_outputs_fails_the_batch(pool: ModelPool) -> None:
    with pytest.raises(errors.ModelError, match="returned 1 outputs for 2 inputs"):
        await pool.run("m", ["short", "x"])


@pytest.mark.parametrize(
    "pool", [{"max_batch_size": 2, "runner_options": {"delay_ms": 100}}], indirect=True
)
async def test_a_cancelled_caller_leaves_the_queue(
    pool: ModelPool, batches: list[list[Any]]
) -> None:
    first = asyncio.create_task(pool.run("m", ["first", "second"]))
    await asyncio.sleep(0.02)
    gone = asyncio.create_task(pool.run("m", ["gone"]))
    await asyncio.sleep(0.02)
    gone.cancel()
    assert await first == ["out:first", "out:second"]
    assert await pool.run("m", ["next"]) == ["out:next"]
    assert batches == [["first", "second"], ["next"]]


@pytest.mark.parametrize(
    "pool", [{"max_batch_size": 1, "runner_options": {"delay_ms": 100}}], indirect=True
)
async def test_a_full_batch_goes_to_the_model_while_another_runs(
    pool: ModelPool, batches: list[list[Any]]
) -> None:
    """A full batch cannot grow, so it is handed over at once (the model starts it without a
    round trip): by the time its caller gives up, it is the model's to run."""
    first = asyncio.create_task(pool.run("m", ["first"]))
    await asyncio.sleep(0.02)
    ahead = asyncio.create_task(pool.run("m", ["ahead"]))
    await asyncio.sleep(0.02)
    ahead.cancel()
    assert await first == ["out:first"]
    assert await pool.run("m", ["next"]) == ["out:next"]
    assert batches == [["first"], ["ahead"], ["next"]]


async def test_empty_requests_need_no_model() -> None:
    pool = make_pool([])
    async with pool:
        assert await pool.run("missing", []) == []


async def test_an_exception_as_an_output_fails_only_its_request() -> None:
    sent: list[Batch] = []
    batcher = Batcher(sent.append, max_items=8, max_wait=0.05)
    good, bad = batcher.run(["a"]), batcher.run(["b"])
    streamed = batcher.stream("c")
    await asyncio.sleep(0.01)
    [run_batch] = [b for b in sent if not b.stream]
    run_batch.finish(["A", errors.ContextTooLong("'b' is too long")])
    assert await good == ["A"]
    with pytest.raises(errors.ContextTooLong, match="'b' is too long"):
        await bad
    while not any(b.stream for b in sent):
        await asyncio.sleep(0.01)
    [stream_batch] = [b for b in sent if b.stream]
    stream_batch.chunk(0, errors.ContextTooLong("'c' is too long"))
    with pytest.raises(errors.ContextTooLong, match="'c' is too long"):
        [chunk async for chunk in streamed.chunks()]


@pytest.mark.parametrize(
    "pool", [{"max_batch_size": 4, "runner_options": {"delay_ms": 40}}], indirect=True
)
async def test_an_online_call_goes_before_a_jobs_queued_items(
    pool: ModelPool, batches: list[list[Any]]
) -> None:
    """A job with 40 items keeps the model busy; a call made while its first batch runs is
    the next batch, not the eleventh."""
    job = asyncio.create_task(pool.run("m", [f"j{i}" for i in range(40)], background=True))
    await asyncio.sleep(0.01)
    online = await pool.run("m", ["online"])
    assert online == ["out:online"]
    assert batches[1] == ["online"]
    assert len(await job) == 40
    assert [item for batch in batches if batch != ["online"] for item in batch] == [
        f"j{i}" for i in range(40)
    ]


@pytest.mark.parametrize(
    "pool", [{"max_batch_size": 4, "runner_options": {"delay_ms": 40}}], indirect=True
)
async def test_a_jobs_batch_never_waits_in_the_model_ahead_of_a_running_one(
    pool: ModelPool, batches: list[list[Any]]
) -> None:
    """So the online call that comes during the job's first batch still starts second, even
    though the job had a full batch queued before it came."""
    job = asyncio.create_task(pool.run("m", list(range(8)), background=True))
    await asyncio.sleep(0.02)
    assert await pool.run("m", ["online"]) == ["out:online"]
    assert batches[:2] == [[0, 1, 2, 3], ["online"]]
    await job


async def test_with_only_jobs_queued_the_model_runs_one_batch_at_a_time() -> None:
    sent: list[Batch] = []
    batcher = Batcher(sent.append, max_items=4, max_wait=0.0)
    first = batcher.run(list(range(12)), background=True)
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert [len(batch.items) for batch in sent] == [4]
    sent[0].finish(["x"] * 4)
    await asyncio.sleep(0)
    assert [len(batch.items) for batch in sent] == [4, 4]
    online = batcher.run(["now"])
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert [len(batch.items) for batch in sent] == [4, 4]  # smaller than the running one
    sent[1].finish(["y"] * 4)
    await asyncio.sleep(0)
    assert [len(batch.items) for batch in sent] == [4, 4, 1]  # before the job's last four
    sent[2].finish(["now!"])
    assert await online == ["now!"]
    await asyncio.sleep(0)
    sent[3].finish(["z"] * 4)
    assert len(await first) == 12
