"""Crash safety: a ``berth worker`` killed with SIGKILL again and again loses no job.

300 ``sleep`` jobs each append a line to a journal when their sleep ends. A real worker process
is killed at random moments several times and restarted; the reaper returns the jobs a dead
worker held once their short lease expires. At the end every job has succeeded and left its
line in the journal, and the only jobs that ran more than once are jobs whose attempt a kill
interrupted: delivery is at least once, and exactly once for jobs no crash touched.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from berth.db.stores import store_from_url
from berth.jobs.job import EventType, Job, JobEvent, JobQuery, JobStatus, NewJob
from berth.jobs.store import JobStore
from tests.integration.worker_process import WorkerProcess, worker_env

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(240)]

JOBS = 300
KILLS = 5
SEED = 1729
JOURNAL = "crash"
DEADLINE_SECONDS = 110.0
SETTLE_SECONDS = 0.2
"""After a kill, how long the database gets to finish (or roll back) what the dead sent."""
SETTINGS = {
    "BERTH_CONCURRENCY": "8",
    "BERTH_LEASE_SECONDS": "1.5",
    "BERTH_HEARTBEAT_SECONDS": "0.3",
    "BERTH_REAP_SECONDS": "0.3",
    "BERTH_POLL_SECONDS": "0.2",
    "BERTH_DRAIN_SECONDS": "10",
}
UNFINISHED = frozenset({JobStatus.QUEUED, JobStatus.RUNNING})


@dataclass(frozen=True)
class Kill:
    """One SIGKILL: the worker it hit and the jobs that worker was running then."""

    worker_id: str
    held: frozenset[str]


async def submit_jobs(store: JobStore, rng: random.Random) -> list[str]:
    ids = []
    for _ in range(JOBS):
        params = {
            "seconds": round(rng.uniform(0.05, 0.2), 3),
            "steps": rng.randint(1, 3),
            "journal": JOURNAL,
        }
        ids.append((await store.submit(NewJob("sleep", params, max_attempts=20))).job.id)
    return ids


async def all_jobs(store: JobStore) -> list[Job]:
    return await store.list_jobs(JobQuery(limit=JOBS + 1))


async def held_by(store: JobStore, worker_id: str) -> frozenset[str]:
    running = await store.list_jobs(JobQuery(frozenset({JobStatus.RUNNING}), limit=JOBS))
    return frozenset(job.id for job in running if job.worker_id == worker_id)


async def crash_repeatedly(
    store: JobStore,
    env: dict[str, str],
    home: Path,
    rng: random.Random,
    started: list[WorkerProcess],
) -> list[Kill]:
    """Start a worker, let it run for a random moment, SIGKILL it; ``KILLS`` times."""
    kills = []
    for number in range(KILLS):
        worker = WorkerProcess(env, home / f"worker-{number}.log")
        started.append(worker)
        worker_id = await worker.registered(store)
        await asyncio.sleep(rng.uniform(0.2, 1.2))
        worker.kill()
        await asyncio.sleep(SETTLE_SECONDS)
        kills.append(Kill(worker_id, await held_by(store, worker_id)))
    return kills


async def wait_until_finished(store: JobStore) -> None:
    while True:
        counts = await store.counts()
        if not any(status in UNFINISHED for status, _ in counts):
            return
        await asyncio.sleep(0.2)


def status_counts(jobs: list[Job]) -> dict[JobStatus, int]:
    return dict(Counter(job.status for job in jobs))


def read_journal(home: Path) -> dict[str, list[int]]:
    """The attempts that reached the side effect, by job id."""
    attempts: dict[str, list[int]] = defaultdict(list)
    for line in (home / "journals" / f"{JOURNAL}.log").read_text().splitlines():
        job_id, attempt = line.split()
        attempts[job_id].append(int(attempt))
    return attempts


def history_problems(job: Job, events: list[JobEvent], kills: list[Kill]) -> list[str]:
    """What is wrong with one finished job's record, given the kills it lived through."""
    problems = []
    if job.status is not JobStatus.SUCCEEDED:
        problems.append(f"{job.id} is {job.status} after {job.attempts} attempts: {job.error}")
    starts = [e.data["attempt"] for e in events if e.type is EventType.STARTED]
    if starts != list(range(1, job.attempts + 1)):
        problems.append(f"{job.id} has attempts {job.attempts} but started events {starts}")
    requeues = [e.data.get("reason") for e in events if e.type is EventType.REQUEUED]
    if requeues != ["lease_expired"] * (job.attempts - 1):
        problems.append(f"{job.id} ran {job.attempts} times, requeued for {requeues}")
    killed_in = sum(job.id in kill.held for kill in kills)
    if job.attempts != 1 + killed_in:
        problems.append(f"{job.id} ran {job.attempts} times but was killed {killed_in} times")
    if any(e.type in (EventType.RETRYING, EventType.FAILED) for e in events):
        problems.append(f"{job.id} failed an attempt: {[e.data for e in events]}")
    return problems


def journal_problems(job: Job, journaled: list[int]) -> list[str]:
    """The attempt that succeeded left its line; no attempt left two, and none came later."""
    if job.attempts not in journaled:
        return [f"{job.id} succeeded in attempt {job.attempts}; the journal has {journaled}"]
    if len(set(journaled)) != len(journaled) or max(journaled) > job.attempts:
        return [f"{job.id} ran {job.attempts} attempts; the journal has {journaled}"]
    return []


@dataclass(frozen=True)
class Outcome:
    """What a crash run left: the jobs submitted, the kills, and the store's final record."""

    ids: list[str]
    kills: list[Kill]
    jobs: list[Job]
    events: dict[str, list[JobEvent]]


async def crash_then_recover(url: str, home: Path, started: list[WorkerProcess]) -> Outcome:
    """Submit the jobs, kill workers ``KILLS`` times, then let one last worker finish."""
    env = worker_env(home, url, SETTINGS)
    rng = random.Random(SEED)
    async with store_from_url(url) as store, asyncio.timeout(DEADLINE_SECONDS):
        ids = await submit_jobs(store, rng)
        kills = await crash_repeatedly(store, env, home, rng, started)
        last = WorkerProcess(env, home / "worker-last.log")
        started.append(last)
        await last.registered(store)
        await wait_until_finished(store)
        assert await last.stop() == 0, last.log()
        jobs = await all_jobs(store)
        return Outcome(ids, kills, jobs, {job.id: await store.events(job.id) for job in jobs})


def report(kind: str, outcome: Outcome, journal: dict[str, list[int]]) -> dict[str, object]:
    held = [len(kill.held) for kill in outcome.kills]
    return {
        "store": kind,
        "seed": SEED,
        "kills": len(outcome.kills),
        "held_at_each_kill": held,
        "interruptions": sum(held),
        "interrupted": sum(job.attempts > 1 for job in outcome.jobs),
        "ran_twice": sum(len(attempts) > 1 for attempts in journal.values()),
    }


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
async def test_sigkilled_workers_lose_no_job(
    kind: str,
    store_url_factory: Callable[[str], str],
    tmp_path: Path,
    record_testsuite_property: Callable[[str, object], None],
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    started: list[WorkerProcess] = []
    try:
        outcome = await crash_then_recover(store_url_factory(kind), home, started)
    finally:
        for worker in started:
            worker.close()
    journal = read_journal(home)
    numbers = report(kind, outcome, journal)
    print(f"\ncrash test: {numbers}")
    for key, value in numbers.items():
        record_testsuite_property(f"crash_{kind}_{key}", value)

    jobs, kills = outcome.jobs, outcome.kills
    assert sorted(job.id for job in jobs) == sorted(outcome.ids)
    assert status_counts(jobs) == {JobStatus.SUCCEEDED: JOBS}, "none left queued or running"
    assert journal.keys() == set(outcome.ids), "every job left its side effect, nothing else did"
    problems = [p for job in jobs for p in history_problems(job, outcome.events[job.id], kills)]
    problems += [p for job in jobs for p in journal_problems(job, journal[job.id])]
    assert problems == []
    interrupted = {job.id for job in jobs if job.attempts > 1}
    ran_twice = {job_id for job_id, attempts in journal.items() if len(attempts) > 1}
    assert ran_twice <= interrupted, "only jobs whose attempt a kill interrupted may run twice"
    assert all(kill.held for kill in kills), "every kill should hit running jobs"
    assert interrupted, "no kill interrupted a job: the test proved nothing"
    errors = [line for worker in started for line in worker.errors()]
    assert errors == [], "the workers logged errors"
