"""The dispatcher on every store: outcomes, ordering, limits, retries, timeouts, stops."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from berth.jobs.config import DispatcherConfig
from berth.jobs.context import JobContext
from berth.jobs.dispatcher import Dispatcher, State
from berth.jobs.job import EventType, Job, JobStatus, NewJob
from berth.jobs.kind import JobKind
from berth.jobs.outputs import job_dir
from berth.jobs.store import JobStore
from berth.kinds.builtin import register
from berth.plugins import PluginRegistry

pytestmark = pytest.mark.integration


class Gauge:
    """Counts how many jobs run at once."""

    def __init__(self) -> None:
        self.now = 0
        self.peak = 0
        self.order: list[Any] = []

    async def run(self, ctx: JobContext, data: Any) -> Any:
        self.now += 1
        self.peak = max(self.peak, self.now)
        self.order.append(data)
        try:
            await asyncio.sleep(0.05)
        finally:
            self.now -= 1
        return data


async def stubborn(ctx: JobContext, data: Any) -> Any:
    """Ignores every stop signal."""
    await asyncio.sleep(60)


async def grouped(ctx: JobContext, data: Any) -> Any:
    """Works in a task group whose tasks see the cancel, as the eval kind does."""

    async def part() -> None:
        while True:
            ctx.check_cancelled()
            await asyncio.sleep(0.02)

    async with asyncio.TaskGroup() as group:
        for _ in range(3):
            group.create_task(part())


@pytest.fixture
def gauge() -> Gauge:
    return Gauge()


@pytest.fixture
def kinds(gauge: Gauge) -> dict[str, JobKind[Any]]:
    registry = PluginRegistry()
    register(registry)
    registry.add_kind(JobKind("gauge", gauge.run, "counts concurrency"))
    registry.add_kind(JobKind("stubborn", stubborn, "ignores stop signals", concurrency=5))
    registry.add_kind(JobKind("grouped", grouped, "sees the cancel in a task group"))
    return registry.kinds


@pytest.fixture
def make_config(tmp_path: Path) -> Callable[..., DispatcherConfig]:
    def make(**changes: Any) -> DispatcherConfig:
        base: dict[str, Any] = {
            "outputs_dir": tmp_path / "outputs",
            "home": tmp_path,
            "lease_seconds": 5.0,
            "heartbeat_seconds": 0.5,
            "poll_seconds": 0.1,
            "reap_seconds": 0.2,
            "retry_base_seconds": 0.1,
            "retry_max_seconds": 1.0,
            "cancel_grace_seconds": 0.3,
            "drain_seconds": 2.0,
        }
        return DispatcherConfig(**{**base, **changes})

    return make


async def wait_for(store: JobStore, job_id: str, timeout: float = 20) -> Job:
    async with asyncio.timeout(timeout):
        while True:
            job = await store.get(job_id)
            if job.status.terminal:
                return job
            await asyncio.sleep(0.02)


async def wait_status(store: JobStore, job_id: str, status: JobStatus) -> Job:
    async with asyncio.timeout(20):
        while (job := await store.get(job_id)).status is not status:
            await asyncio.sleep(0.02)
    return job


async def test_echo_succeeds_and_leaves_provenance(
    live_store: JobStore,
    kinds: dict[str, JobKind[Any]],
    make_config: Callable[..., DispatcherConfig],
) -> None:
    config = make_config()
    async with Dispatcher(live_store, kinds, config) as dispatcher:
        job_id = (await live_store.submit(NewJob("echo", {"hello": [1, 2]}))).job.id
        job = await wait_for(live_store, job_id)
    assert dispatcher.state is State.STOPPED
    assert job.status is JobStatus.SUCCEEDED
    assert job.result == {"hello": [1, 2]}
    record = json.loads((job_dir(config.outputs_dir, job) / "job.json").read_text())
    assert record["status"] == "succeeded" and record["input"] == {"hello": [1, 2]}
    assert record["attempts"] == 1 and record["worker"] == dispatcher.worker_id
    assert {"berth", "python", "sqlalchemy"} <= record["versions"].keys()
    assert record["timings"]["running_seconds"] >= 0
    assert await live_store.workers() == []


async def test_priority_then_age_with_one_slot(
    live_store: JobStore,
    kinds: dict[str, JobKind[Any]],
    make_config: Callable[..., DispatcherConfig],
    gauge: Gauge,
) -> None:
    ids = [
        (await live_store.submit(NewJob("gauge", name, priority=p))).job.id
        for name, p in [("a", 0), ("b", 5), ("c", 0), ("d", 5), ("e", 9)]
    ]
    async with Dispatcher(live_store, kinds, make_config(concurrency=1)):
        for job_id in ids:
            await wait_for(live_store, job_id)
    assert gauge.order == ["e", "b", "d", "a", "c"]
    assert gauge.peak == 1


@pytest.mark.parametrize(("overall", "per_kind", "peak"), [(3, {}, 3), (8, {"gauge": 2}, 2)])
async def test_concurrency_limits(
    live_store: JobStore,
    kinds: dict[str, JobKind[Any]],
    make_config: Callable[..., DispatcherConfig],
    gauge: Gauge,
    overall: int,
    per_kind: dict[str, int],
    peak: int,
) -> None:
    ids = [(await live_store.submit(NewJob("gauge", i))).job.id for i in range(12)]
    config = make_config(concurrency=overall, kind_concurrency=per_kind)
    async with Dispatcher(live_store, kinds, config):
        for job_id in ids:
            await wait_for(live_store, job_id)
    assert gauge.peak == peak


async def test_failures_retry_with_backoff_then_fail(
    live_store: JobStore,
    kinds: dict[str, JobKind[Any]],
    make_config: Callable[..., DispatcherConfig],
) -> None:
    job_id = (await live_store.submit(NewJob("fail", {"message": "nope"}, max_attempts=3))).job.id
    async with Dispatcher(live_store, kinds, make_config()):
        job = await wait_for(live_store, job_id)
    assert job.status is JobStatus.FAILED and job.attempts == 3
    assert job.error is not None
    assert (job.error.type, job.error.message) == ("IntentionalFailure", "nope")
    assert job.error.traceback is not None and "IntentionalFailure" in job.error.traceback
    events = await live_store.events(job_id)
    retries = [e for e in events if e.type is EventType.RETRYING]
    starts = [e for e in events if e.type is EventType.STARTED]
    assert len(retries) == 2 and len(starts) == 3
    waits = [start.at - retry.at for retry, start in zip(retries, starts[1:], strict=True)]
    assert waits[0] >= 0.1 * 0.9 and waits[1] >= 0.2 * 0.9


async def test_invalid_input_fails_without_retry(
    live_store: JobStore,
    kinds: dict[str, JobKind[Any]],
    make_config: Callable[..., DispatcherConfig],
) -> None:
    job_id = (await live_store.submit(NewJob("sleep", {"seconds": -1}, max_attempts=3))).job.id
    async with Dispatcher(live_store, kinds, make_config()):
        job = await wait_for(live_store, job_id)
    assert job.status is JobStatus.FAILED and job.attempts == 1
    assert job.error is not None and job.error.type == "InvalidJobInput"
    assert "seconds" in job.error.message


async def test_timeout_stops_the_job(
    live_store: JobStore,
    kinds: dict[str, JobKind[Any]],
    make_config: Callable[..., DispatcherConfig],
) -> None:
    cooperative = NewJob("sleep", {"seconds": 30}, timeout=0.3, max_attempts=1)
    hard = NewJob("stubborn", {}, timeout=0.3, max_attempts=1)
    async with Dispatcher(live_store, kinds, make_config()):
        ids = [(await live_store.submit(new)).job.id for new in (cooperative, hard)]
        jobs = [await wait_for(live_store, job_id, timeout=10) for job_id in ids]
    for job in jobs:
        assert job.status is JobStatus.FAILED
        assert job.error is not None and job.error.type == "JobTimeout"
        assert job.finished_at is not None and job.started_at is not None
        assert job.finished_at - job.started_at < 5


async def test_cancel_queued_and_running(
    live_store: JobStore,
    kinds: dict[str, JobKind[Any]],
    make_config: Callable[..., DispatcherConfig],
) -> None:
    queued = (await live_store.submit(NewJob("sleep", {"seconds": 1}, run_after=1e12))).job.id
    assert (await live_store.cancel(queued)).status is JobStatus.CANCELLED
    async with Dispatcher(live_store, kinds, make_config()):
        polite = (await live_store.submit(NewJob("sleep", {"seconds": 30, "steps": 30}))).job.id
        rude = (await live_store.submit(NewJob("stubborn", {}))).job.id
        for job_id in (polite, rude):
            await wait_status(live_store, job_id, JobStatus.RUNNING)
            await live_store.cancel(job_id)
        jobs = [await wait_for(live_store, job_id, timeout=10) for job_id in (polite, rude)]
    for job in jobs:
        assert job.status is JobStatus.CANCELLED
        assert job.finished_at is not None and job.started_at is not None
        assert job.finished_at - job.started_at < 5
        types = [e.type for e in await live_store.events(job.id)]
        assert types[-2:] == [EventType.CANCEL_REQUESTED, EventType.CANCELLED]


async def test_a_cancel_seen_inside_a_task_group_is_a_cancel(
    live_store: JobStore,
    kinds: dict[str, JobKind[Any]],
    make_config: Callable[..., DispatcherConfig],
) -> None:
    submitted = await live_store.submit(NewJob("grouped", {}, max_attempts=3))
    async with Dispatcher(live_store, kinds, make_config()):
        await wait_status(live_store, submitted.job.id, JobStatus.RUNNING)
        await live_store.cancel(submitted.job.id)
        job = await wait_for(live_store, submitted.job.id, timeout=10)
    assert job.status is JobStatus.CANCELLED
    assert job.attempts == 1
    assert job.error is None


async def test_drain_finishes_short_jobs_and_requeues_long_ones(
    live_store: JobStore,
    kinds: dict[str, JobKind[Any]],
    make_config: Callable[..., DispatcherConfig],
) -> None:
    dispatcher = Dispatcher(live_store, kinds, make_config(drain_seconds=0.5))
    await dispatcher.start()
    short = (await live_store.submit(NewJob("sleep", {"seconds": 0.2}))).job.id
    long = (await live_store.submit(NewJob("sleep", {"seconds": 30}))).job.id
    for job_id in (short, long):
        await wait_status(live_store, job_id, JobStatus.RUNNING)
    dispatcher.stop()
    await asyncio.wait_for(dispatcher.wait(), 10)
    assert (await live_store.get(short)).status is JobStatus.SUCCEEDED
    requeued = await live_store.get(long)
    assert requeued.status is JobStatus.QUEUED and requeued.attempts == 0
    assert (await live_store.events(long))[-1].data == {"reason": "shutdown"}


async def test_reaper_reruns_a_dead_workers_job(
    live_store: JobStore,
    kinds: dict[str, JobKind[Any]],
    make_config: Callable[..., DispatcherConfig],
) -> None:
    job_id = (await live_store.submit(NewJob("echo", "survivor"))).job.id
    [orphan] = await live_store.claim("dead-worker", {"echo": 1}, 1, lease_seconds=0.3)
    assert orphan.id == job_id
    async with Dispatcher(live_store, kinds, make_config()):
        job = await wait_for(live_store, job_id)
    assert job.status is JobStatus.SUCCEEDED and job.attempts == 2
    types = [e.type for e in await live_store.events(job_id)]
    assert EventType.REQUEUED in types


async def test_a_worker_that_lost_its_lease_writes_nothing(
    live_store: JobStore,
    kinds: dict[str, JobKind[Any]],
    make_config: Callable[..., DispatcherConfig],
) -> None:
    job_id = (await live_store.submit(NewJob("sleep", {"seconds": 30, "steps": 30}))).job.id
    async with Dispatcher(live_store, kinds, make_config(concurrency=1)) as dispatcher:
        await wait_status(live_store, job_id, JobStatus.RUNNING)
        running = await live_store.get(job_id)
        await live_store.release(running.lease, "test took it away")
        [taken] = await live_store.claim("other", {"sleep": 1}, 1, 60)
        assert taken.id == job_id
        async with asyncio.timeout(5):
            while dispatcher.running_jobs:
                await asyncio.sleep(0.05)
        job = await live_store.get(job_id)
        assert (job.status, job.worker_id) == (JobStatus.RUNNING, "other")
