"""One measurement: backlog throughput, then burst latency, then idle latency.

1. Backlog: submit ``plan.jobs`` jobs with no worker running, start the workers, wait until
   all are ready, tell them to go; throughput is the jobs over the time from the first
   start to the last finish.
2. Burst: with the workers idle, submit ``plan.burst`` jobs one after another as fast as
   the client allows; wait until they finish.
3. Idle: ``plan.idle`` times, sleep ``plan.idle_gap_s``, submit one job, wait until it
   finishes.

Latency is start minus submit of each job of a phase. All timestamps are read after the
workers have stopped.
"""

from __future__ import annotations

import asyncio

from .errors import BenchError
from .plan import Label, Plan
from .storage import Storage
from .subject import Subject, WorkerArgs
from .timings import Figures, Phases, figures
from .workers import WorkerGroup

BACKLOG_POLL_S = 0.05
BURST_POLL_S = 0.01
IDLE_POLL_S = 0.005
IDLE_JOB_TIMEOUT_S = 10.0


async def submit_many(subject: Subject, count: int) -> list[str]:
    """Submit ``count`` jobs one after another; their ids."""
    return [await subject.submit() for _ in range(count)]


async def wait_finished(
    subject: Subject, group: WorkerGroup, target: int, timeout: float, poll: float
) -> None:
    """Wait until ``target`` jobs have finished; raise if it takes ``timeout`` or a worker dies."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (done := await subject.finished()) < target:
        group.check()
        if loop.time() > deadline:
            raise BenchError(f"Only {done} of {target} jobs finished within {timeout:g} s.")
        await asyncio.sleep(poll)


async def _idle_series(subject: Subject, group: WorkerGroup, plan: Plan, done: int) -> list[str]:
    ids = []
    for index in range(plan.idle):
        await asyncio.sleep(plan.idle_gap_s)
        ids.append(await subject.submit())
        await wait_finished(subject, group, done + index + 1, IDLE_JOB_TIMEOUT_S, IDLE_POLL_S)
    return ids


async def measure(subject: Subject, label: Label, storage: Storage, plan: Plan) -> Figures:
    """Run the three phases against ``subject`` with ``label.workers`` worker processes."""
    backlog = await submit_many(subject, plan.jobs)
    argv = WorkerArgs.of(label.system, storage, plan).argv()
    async with WorkerGroup(argv, label.workers, storage.folder, subject.record) as group:
        await group.go()
        await wait_finished(subject, group, plan.jobs, plan.phase_timeout_s, BACKLOG_POLL_S)
        burst = await submit_many(subject, plan.burst)
        done = plan.jobs + plan.burst
        await wait_finished(subject, group, done, plan.phase_timeout_s, BURST_POLL_S)
        idle = await _idle_series(subject, group, plan, done)
    phases = Phases(backlog, burst, idle)
    return figures(await subject.times(phases.all), phases)
