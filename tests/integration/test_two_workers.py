"""Two ``berth worker`` processes on one PostgreSQL database never run the same job.

Both workers load the ``interval`` probe kind as a plugin; each run appends when and in which
process it ran. With the default lease nothing expires in a healthy run, so every job must run
exactly once: one ``started`` event, one recorded interval, in the worker the event names. The
intervals also show that the two workers really ran side by side and that each kept to its
concurrency limit.
"""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

from berth.db.stores import store_from_url
from berth.jobs.job import EventType, Job, JobEvent, JobQuery, JobStatus, NewJob
from berth.jobs.store import JobStore
from tests.integration.worker_process import (
    Interval,
    WorkerProcess,
    read_intervals,
    with_interval_plugin,
    worker_env,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(180)]

JOBS = 200
CONCURRENCY = 4
LOG = "two-workers"
SEED = 42
DEADLINE_SECONDS = 90.0
CLOCK_SLACK_SECONDS = 0.05
"""Rounding between the store's timestamps and the job's own, both from one machine's clock."""
UNFINISHED = frozenset({JobStatus.QUEUED, JobStatus.RUNNING})


async def submit_jobs(store: JobStore) -> list[str]:
    rng = random.Random(SEED)
    ids = []
    for _ in range(JOBS):
        params = {"seconds": round(rng.uniform(0.05, 0.15), 3), "log": LOG}
        ids.append((await store.submit(NewJob("interval", params, max_attempts=1))).job.id)
    return ids


async def wait_until_finished(store: JobStore) -> None:
    while True:
        counts = await store.counts()
        if not any(status in UNFINISHED for status, _ in counts):
            return
        await asyncio.sleep(0.2)


def peak_overlap(intervals: Iterable[Interval]) -> int:
    """The most intervals that were open at one moment."""
    edges = sorted(
        [(i.start, 1) for i in intervals] + [(i.end, -1) for i in intervals],
        key=lambda edge: (edge[0], edge[1]),
    )
    open_now = peak = 0
    for _, step in edges:
        open_now += step
        peak = max(peak, open_now)
    return peak


def overlapping_pairs(first: list[Interval], second: list[Interval]) -> int:
    """How many runs of ``first`` overlapped in time with runs of ``second``, pair by pair."""
    return sum(1 for a in first for b in second if max(a.start, b.start) < min(a.end, b.end))


def run_problems(
    job: Job, events: list[JobEvent], runs: list[Interval], pids: dict[str, int]
) -> list[str]:
    """What shows that this job was not run exactly once, by one worker, while it held it."""
    starts = [e for e in events if e.type is EventType.STARTED]
    ends = [e for e in events if e.type is EventType.SUCCEEDED]
    if (job.status, job.attempts, len(starts), len(ends)) != (JobStatus.SUCCEEDED, 1, 1, 1):
        return [
            f"{job.id}: {job.status}, {job.attempts} attempts, events {[e.type for e in events]}"
        ]
    if any(e.type in (EventType.REQUEUED, EventType.RETRYING) for e in events):
        return [f"{job.id} went back to the queue: {[e.data for e in events]}"]
    if len(runs) != 1:
        return [f"{job.id} ran {len(runs)} times: {runs}"]
    [start], [end], [run] = starts, ends, runs
    worker = start.data["worker"]
    problems = []
    if pids.get(worker) != run.pid:
        problems.append(f"{job.id} was claimed by {worker} but ran in process {run.pid}")
    if not start.at - CLOCK_SLACK_SECONDS <= run.start <= run.end <= end.at + CLOCK_SLACK_SECONDS:
        problems.append(f"{job.id} ran {run} outside its claim, {start.at} to {end.at}")
    return problems


def runs_by_job(intervals: list[Interval]) -> dict[str, list[Interval]]:
    runs: dict[str, list[Interval]] = defaultdict(list)
    for run in intervals:
        runs[run.job_id].append(run)
    return runs


@dataclass(frozen=True)
class Outcome:
    """What the two workers left: their ids and exit codes, and the store's final record."""

    ids: list[str]
    pids: dict[str, int]
    """Each worker's process id, by worker id."""
    exit_codes: list[int]
    jobs: list[Job]
    events: dict[str, list[JobEvent]]
    still_registered: int


async def run_two_workers(
    url: str, env: dict[str, str], home: Path, workers: list[WorkerProcess]
) -> Outcome:
    """Start both workers, submit the jobs once both are up, wait for all, stop both."""
    async with store_from_url(url) as store, asyncio.timeout(DEADLINE_SECONDS):
        for number in range(2):
            workers.append(WorkerProcess(env, home / f"worker-{number}.log"))
        pids = {await worker.registered(store): worker.pid for worker in workers}
        ids = await submit_jobs(store)
        await wait_until_finished(store)
        codes = [await worker.stop() for worker in workers]
        jobs = await store.list_jobs(JobQuery(limit=JOBS + 1))
        events = {job.id: await store.events(job.id) for job in jobs}
        return Outcome(ids, pids, codes, jobs, events, len(await store.workers()))


async def test_two_workers_never_share_a_job(
    postgres_url: str,
    tmp_path: Path,
    record_testsuite_property: Callable[[str, object], None],
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    settings = {"BERTH_CONCURRENCY": str(CONCURRENCY), "BERTH_POLL_SECONDS": "0.2"}
    env = with_interval_plugin(worker_env(home, postgres_url, settings), tmp_path / "plugins")
    workers: list[WorkerProcess] = []
    try:
        outcome = await run_two_workers(postgres_url, env, home, workers)
    finally:
        for worker in workers:
            worker.close()
    intervals = read_intervals(home, LOG)
    first, second = ([run for run in intervals if run.pid == pid] for pid in outcome.pids.values())
    peaks = [peak_overlap(first), peak_overlap(second)]
    side_by_side = overlapping_pairs(first, second)
    numbers: dict[str, object] = {
        "jobs_per_worker": [len(first), len(second)],
        "peak_running_per_worker": peaks,
        "overlapping_runs": side_by_side,
    }
    print(f"\ntwo workers: {numbers}")
    for key, value in numbers.items():
        record_testsuite_property(f"two_workers_{key}", value)

    assert outcome.exit_codes == [0, 0], [worker.log() for worker in workers]
    assert outcome.still_registered == 0, "both workers deregistered when they stopped"
    assert sorted(job.id for job in outcome.jobs) == sorted(outcome.ids)
    runs = runs_by_job(intervals)
    assert runs.keys() == set(outcome.ids), "every job ran, and nothing else did"
    problems = [
        problem
        for job in outcome.jobs
        for problem in run_problems(job, outcome.events[job.id], runs[job.id], outcome.pids)
    ]
    assert problems == []
    assert min(len(first), len(second)) >= JOBS // 10, "both workers took a fair share"
    assert side_by_side > 0, "the two workers never ran jobs at the same time"
    assert max(peaks) <= CONCURRENCY, "a worker ran more jobs at once than its concurrency"
    errors = [line for worker in workers for line in worker.errors()]
    assert errors == [], "the workers logged errors"
