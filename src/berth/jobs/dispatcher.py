"""The dispatcher: claims jobs with a lease, runs them, and records what happened.

One loop claims work whenever it has free slots (overall and per kind), heartbeats to keep
its leases and to learn of cancellations, and reaps expired leases of any worker. Each claimed
job runs in its own task under a :class:`~berth.jobs.supervisor.Supervisor`, which enforces
the timeout and the cancellation grace period and turns the outcome into one store call.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import os
import socket
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Self

from berth import errors
from berth.agents.host import AgentHost
from berth.clock import Clock, SystemClock
from berth.evals.store import EvalStore
from berth.ids import new_id
from berth.jobs.config import DispatcherConfig
from berth.jobs.context import FileReader, ModelPuller
from berth.jobs.job import Job
from berth.jobs.kind import JobKind
from berth.jobs.outputs import ProvenanceWriter, versions
from berth.jobs.store import JobStore
from berth.jobs.supervisor import Supervisor
from berth.jobs.workers import WorkerInfo
from berth.tasks.calls import ModelCalls
from berth.training.host import TrainingHost
from berth.vectors.writer import VectorWriter

log = logging.getLogger(__name__)
QUICK_BEAT_SECONDS = 0.25


class State(enum.StrEnum):
    NEW = "new"
    RUNNING = "running"
    DRAINING = "draining"
    STOPPED = "stopped"


def worker_name() -> str:
    """A worker id that names the host and process it runs in."""
    return f"{socket.gethostname()}-{os.getpid()}-{new_id()[-6:]}"


class Dispatcher:
    """Runs jobs from a store. Use as ``async with Dispatcher(...) as d: await d.wait()``."""

    def __init__(
        self,
        store: JobStore,
        kinds: Mapping[str, JobKind[Any]],
        config: DispatcherConfig,
        *,
        worker_id: str | None = None,
        clock: Clock | None = None,
        models: ModelCalls | None = None,
        pulls: ModelPuller | None = None,
        files: FileReader | None = None,
        evals: EvalStore | None = None,
        vectors: VectorWriter | None = None,
        training: TrainingHost | None = None,
        agents: AgentHost | None = None,
    ) -> None:
        self.store = store
        self.evals = evals
        self.models = models
        self.pulls = pulls
        self.files = files
        self.vectors = vectors
        self.training = training
        self.agents = agents
        self.kinds = dict(kinds)
        self.config = config
        self.worker_id = worker_id or worker_name()
        self.state = State.NEW
        self._clock = clock or SystemClock()
        self._versions = versions()
        self._running: dict[str, Supervisor] = {}
        self._provenance: ProvenanceWriter | None = None
        self._stopping = asyncio.Event()
        self._changed = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._last_beat = 0.0
        self._last_reap = 0.0

    # -- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        await self.wait()

    async def start(self) -> None:
        """Register this worker and start claiming jobs."""
        if self.state is not State.NEW:
            raise errors.BerthError(f"Cannot start the dispatcher: it is {self.state}.")
        now = self._clock.now()
        info = WorkerInfo(
            self.worker_id, socket.gethostname(), os.getpid(), now, now, self.config.concurrency
        )
        await self.store.register_worker(info)
        self._provenance = ProvenanceWriter()
        self.state = State.RUNNING
        self._loop_task = asyncio.create_task(self._loop(), name=f"dispatcher {self.worker_id}")
        log.info(
            "dispatcher started",
            extra={
                "action": "dispatcher.started",
                "worker": self.worker_id,
                "store": self.store.url,
                "concurrency": self.config.concurrency,
                "kinds": sorted(self.kinds),
            },
        )

    def stop(self) -> None:
        """Stop claiming and drain: running jobs get ``drain_seconds`` to finish (signal-safe)."""
        self._stopping.set()

    def stop_now(self) -> None:
        """Stop claiming and give running jobs back to the queue at once."""
        self._stopping.set()
        for supervisor in list(self._running.values()):
            supervisor.request_stop("shutdown", grace=0.0)

    async def wait(self) -> None:
        """Wait until the dispatcher has drained and stopped."""
        if self._loop_task is not None:
            await self._loop_task

    @property
    def running_jobs(self) -> list[str]:
        """Ids of the jobs this dispatcher runs now."""
        return list(self._running)

    # -- the loop --------------------------------------------------------------------------

    async def _loop(self) -> None:
        try:
            while not self._stopping.is_set():
                try:
                    claimed = await self._step()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.exception(
                        "dispatcher step failed; retrying",
                        extra={"action": "dispatcher.error", "error": str(exc)},
                    )
                    claimed = False
                if not claimed:
                    await self._idle()
            await self._drain()
        finally:
            await self._leave()

    async def _step(self) -> bool:
        """Do what is due; return True if there may be more work to claim right away."""
        now = self._clock.now()
        if now - self._last_reap >= self.config.reap_seconds:
            self._last_reap = now
            reaped = await self.store.reap()
            await self.store.forget_workers(silent_for=2 * self.config.lease_seconds)
            for job in reaped:
                log.warning(
                    "job's worker was lost; job returned",
                    extra={"action": "job.reaped", "job": job.id, "status": job.status.value},
                )
        if now - self._last_beat >= self._beat_interval():
            await self._heartbeat()
        return await self._claim()

    def _beat_interval(self) -> float:
        # Beat often while jobs run and something changed (a cancel may be waiting).
        if self._running and self._changed.is_set():
            return QUICK_BEAT_SECONDS
        return self.config.heartbeat_seconds

    def _free_slots(self) -> dict[str, int]:
        total = self.config.concurrency - len(self._running)
        if total <= 0:
            return {}
        running: dict[str, int] = {}
        for supervisor in self._running.values():
            running[supervisor.job.kind] = running.get(supervisor.job.kind, 0) + 1
        free = {}
        for name, kind in self.kinds.items():
            limit = self.config.kind_concurrency.get(name, kind.concurrency)
            room = total if limit is None else min(total, limit - running.get(name, 0))
            if room > 0:
                free[name] = room
        return free

    async def _claim(self) -> bool:
        free = self._free_slots()
        if not free:
            return False
        limit = self.config.concurrency - len(self._running)
        jobs = await self.store.claim(self.worker_id, free, limit, self.config.lease_seconds)
        for job in jobs:
            self._launch(job)
        return bool(jobs) and len(self._running) < self.config.concurrency

    async def _idle(self) -> None:
        """Wait for a wake-up, a free slot, a stop, or the poll interval."""
        self._changed.clear()
        waits = {
            asyncio.ensure_future(self._stopping.wait()),
            asyncio.ensure_future(self._changed.wait()),
            asyncio.ensure_future(self.store.wait_for_work(self.config.poll_seconds)),
        }
        try:
            done, _ = await asyncio.wait(
                waits, timeout=self.config.poll_seconds, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for pending in waits:
                pending.cancel()
        if any(task.done() and not task.cancelled() and task.result() for task in done):
            self._changed.set()

    async def _heartbeat(self) -> None:
        self._last_beat = self._clock.now()
        leases = frozenset(supervisor.lease for supervisor in self._running.values())
        beat = await self.store.heartbeat(self.worker_id, leases, self.config.lease_seconds)
        for job_id in beat.lost:
            if supervisor := self._running.get(job_id):
                supervisor.request_stop("lost", grace=0.0)
        for job_id in beat.cancel_requested:
            if supervisor := self._running.get(job_id):
                supervisor.request_stop("cancelled", grace=self.config.cancel_grace_seconds)

    # -- jobs ------------------------------------------------------------------------------

    def _launch(self, job: Job) -> None:
        assert self._provenance is not None, "the dispatcher claims only once started"
        supervisor = Supervisor(
            job,
            self.kinds[job.kind],
            self.store,
            self.worker_id,
            self.config,
            self._versions,
            self._clock,
            self._provenance,
            self.models,
            self.pulls,
            self.files,
            self.evals,
            self.vectors,
            self.training,
            self.agents,
        )
        stale = self._running.get(job.id)
        if stale is not None:
            # Our lease on an earlier attempt expired and we claimed the job again: the old
            # run can no longer write (its lease names the old attempt), so stop it now.
            stale.request_stop("lost", grace=0.0)
        self._running[job.id] = supervisor
        task = asyncio.create_task(supervisor.run(), name=f"job {job.id}")
        task.add_done_callback(lambda _: self._finished(supervisor))

    def _finished(self, supervisor: Supervisor) -> None:
        if self._running.get(supervisor.job.id) is supervisor:
            del self._running[supervisor.job.id]
        self._changed.set()

    async def _drain(self) -> None:
        self.state = State.DRAINING
        if not self._running:
            return
        log.info(
            "draining",
            extra={"action": "dispatcher.draining", "running": len(self._running)},
        )
        tasks = [supervisor.task for supervisor in self._running.values() if supervisor.task]
        _, pending = await asyncio.wait(tasks, timeout=self.config.drain_seconds)
        if pending:
            for supervisor in list(self._running.values()):
                supervisor.request_stop("shutdown", grace=self.config.cancel_grace_seconds)
            await asyncio.wait(pending)

    async def _leave(self) -> None:
        if self._provenance is not None:
            await asyncio.to_thread(self._provenance.close)
        self.state = State.STOPPED
        with contextlib.suppress(Exception):
            await self.store.deregister_worker(self.worker_id)
        log.info("dispatcher stopped", extra={"action": "dispatcher.stopped"})
