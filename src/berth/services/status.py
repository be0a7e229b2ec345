"""How Berth stands, for ``/readyz``, ``/metrics`` and the dashboard: the store answering, the
dispatcher running, the live workers, the queue, and each device's memory."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, Protocol

from berth import errors
from berth.jobs.dispatcher import Dispatcher, State
from berth.jobs.job import TERMINAL, JobStatus
from berth.jobs.store import JobStats, WorkerRegistry
from berth.keys.key import ApiKey
from berth.services.jobs import JobService

WORKER_FRESH_FACTOR = 3
"""A worker counts as live for this many heartbeat periods after its last beat."""
RATE_WINDOW_SECONDS = 300.0
RECENT_FAILURES = 5


def _answers(model: Mapping[str, Any]) -> list[str]:
    """The aliases a worker's reported model answers: its own and its adapters' (if any)."""
    names = [model.get("alias"), *(model.get("adapters") or [])]
    return [str(name) for name in names if name]


class Store(JobStats, WorkerRegistry, Protocol):
    """The job store, as the status needs it."""


class PoolView(Protocol):
    """The model pool, as the status shows it."""

    def describe(self) -> list[dict[str, Any]]: ...

    def memory(self) -> dict[str, dict[str, int]]: ...


class StatusService:
    """Readiness, queue figures and devices (see the module doc)."""

    def __init__(
        self, store: Store, pool: PoolView, jobs: JobService, *, heartbeat_seconds: float
    ) -> None:
        self.store = store
        self.pool = pool
        self.jobs = jobs
        self.heartbeat_seconds = heartbeat_seconds
        self.dispatcher: Dispatcher | None = None
        """This process's dispatcher, once it has one (``berth serve``)."""

    async def readiness(self) -> tuple[bool, dict[str, Any]]:
        """Whether this server can do work (the store answers and its dispatcher runs), and
        the report that says so."""
        report: dict[str, Any] = {"store": "ok", "dispatcher": "absent"}
        ready = True
        try:
            workers = await self.store.workers()
        except errors.BerthError as exc:
            return False, {**report, "store": exc.message}
        if self.dispatcher is not None:
            report["dispatcher"] = self.dispatcher.state.value
            ready = self.dispatcher.state is State.RUNNING
        fresh = time.time() - WORKER_FRESH_FACTOR * self.heartbeat_seconds
        live = [w for w in workers if w.heartbeat_at >= fresh]
        report["workers"] = {
            "active": len(live),
            "busy": sum(1 for w in live if w.running > 0),
            "idle": sum(1 for w in live if w.running == 0),
            "running_jobs": sum(w.running for w in live),
        }
        report["models"] = sorted(
            {alias for w in live for model in w.models for alias in _answers(model)}
        )
        return ready, report

    async def queue(self) -> dict[tuple[JobStatus, str], int]:
        """How many jobs there are, by status and kind."""
        return await self.store.counts()

    def devices(self) -> list[dict[str, Any]]:
        """Each device in use: its budget, what is held, and the models that hold it."""
        loaded = self.pool.describe()
        found = []
        for name, memory in self.pool.memory().items():
            models = [
                {
                    "alias": m.get("alias"),
                    "memory_bytes": m.get("memory_bytes"),
                    "idle_seconds": m.get("idle_seconds"),
                    "pinned": bool(m.get("pinned")),
                    "requests": m.get("requests"),
                    "adapters": list(m.get("adapters") or []),
                }
                for m in loaded
                if m.get("device") == name
            ]
            found.append({"device": name, **memory, "models": models})
        return found

    async def overview(self, caller: ApiKey | None) -> dict[str, Any]:
        """What the dashboard shows: devices, the queue by status, jobs per minute, and the
        latest failures the caller may see."""
        depth = {status.value: 0 for status in JobStatus}
        for (status, _), count in (await self.store.counts()).items():
            depth[status.value] += count
        now = time.time()
        ended = await self.jobs.list_jobs(caller, statuses=TERMINAL, limit=1000)
        recent = [j for j in ended if j.finished_at and now - j.finished_at <= RATE_WINDOW_SECONDS]
        failed = frozenset({JobStatus.FAILED})
        failures = await self.jobs.list_jobs(caller, statuses=failed, limit=RECENT_FAILURES)
        return {
            "devices": self.devices(),
            "queue": depth,
            "jobs_per_minute": round(len(recent) / (RATE_WINDOW_SECONDS / 60), 2),
            "failures": [
                {
                    "id": job.id,
                    "kind": job.kind,
                    "model": job.model,
                    "finished_at": job.finished_at,
                    "error": job.error.message if job.error else None,
                }
                for job in failures
            ],
        }
