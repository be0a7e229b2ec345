"""Jobs as callers see them: submit, look up, list, cancel, follow, download, with every rule
about who may do what applied here, whichever entry point (API, UI, CLI, a kind, a new API)
calls.

The rules of a submit: the kind exists and its input fits (files named only under the data
roots, tools only registered ones); its model is in the catalog, the caller's key may use it,
and it does the kind's task; priority, attempts and timeout are in range; and the key's limit
of unfinished jobs is checked in the same transaction as the insert. A key sees, follows and
cancels only its own jobs unless it holds the ``admin`` scope; without a key (loopback) every
job is visible.
"""

from __future__ import annotations

import asyncio
import dataclasses
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from berth import errors, tracing
from berth.jobs.job import (
    Artifact,
    Job,
    JobEvent,
    JobQuery,
    JobStatus,
    JsonValue,
    NewJob,
    Submission,
)
from berth.jobs.kind import JobKind
from berth.jobs.outputs import job_dir
from berth.jobs.paths import DataRoots
from berth.jobs.store import JobQueue, JobStats, WorkerRegistry
from berth.keys.key import ApiKey, Scope
from berth.models.spec import ModelSpec
from berth.plugins import PluginRegistry
from berth.services.keys import KeyService
from berth.tasks.task import ModelTask

MAX_PRIORITY = 1_000_000
MAX_LIST = 1000
EventSink = Callable[[JobEvent], Awaitable[None] | None]


class Store(JobQueue, JobStats, WorkerRegistry, Protocol):
    """The job store, as callers' requests need it."""


class ModelGate(Protocol):
    """The catalog and its task check, as a submit needs them (the inference service)."""

    def model(self, caller: ApiKey | None, alias: str, task: ModelTask[Any]) -> ModelSpec: ...

    def catalog_entry(self, alias: str) -> ModelSpec: ...


@dataclass(frozen=True)
class Place:
    """Where a queued job stands: jobs ahead of it and when it may start (Unix seconds)."""

    position: int | None
    start: float | None


def only_owner(caller: ApiKey | None) -> str | None:
    """The owner whose jobs alone ``caller`` sees: None for anonymous loopback callers and
    admin keys, which see every job; the key's own id for the others."""
    if caller is None or Scope.ADMIN in caller.scopes:
        return None
    return caller.id


class JobService:
    """The rules of jobs (see the module doc) over the job store."""

    def __init__(
        self,
        store: Store,
        registry: PluginRegistry,
        models: ModelGate,
        *,
        default_attempts: int,
        roots: DataRoots,
        outputs_dir: Path,
    ) -> None:
        self.store = store
        self.registry = registry
        self.models = models
        self.default_attempts = default_attempts
        self.roots = roots
        self.outputs_dir = outputs_dir

    def kinds(self) -> list[JobKind[Any]]:
        """Every kind that can be submitted, by name."""
        return [self.registry.kinds[name] for name in sorted(self.registry.kinds)]

    # -- submit ----------------------------------------------------------------------------

    async def submit(
        self,
        caller: ApiKey | None,
        kind: str,
        data: JsonValue,
        *,
        model: str | None = None,
        priority: int = 0,
        max_attempts: int | None = None,
        timeout: float | None = None,
        idempotency_key: str | None = None,
    ) -> Submission:
        """Validate and persist a new job (or return the one with this idempotency key)."""
        job_kind = self.registry.kind(kind)
        job_kind.parse(data, self.roots, self.registry)
        self._check_model(caller, job_kind, model)
        attempts = self.default_attempts if max_attempts is None else max_attempts
        _check_numbers(priority, attempts, timeout, idempotency_key)
        new = NewJob(
            kind=kind,
            input=data,
            model=model,
            priority=priority,
            max_attempts=attempts,
            timeout=timeout,
            idempotency_key=idempotency_key,
            owner=caller.id if caller is not None else None,
        )
        with tracing.tracer().start_as_current_span(
            "job.submit", attributes={"berth.job.kind": kind, "berth.model": model or ""}
        ):
            traced = dataclasses.replace(new, trace_parent=tracing.current_traceparent())
            limit = caller.max_jobs if caller is not None else None
            try:
                return await self.store.submit(traced, max_unfinished=limit)
            except errors.TooManyJobs as exc:
                assert caller is not None
                raise errors.RateLimited(
                    f"API key '{caller.name}' has {exc.unfinished} jobs queued or running, its "
                    f"limit is {exc.limit}. Retry when one has finished, or cancel one.",
                    retry_after=exc.retry_after,
                ) from None

    def _check_model(self, caller: ApiKey | None, kind: JobKind[Any], model: str | None) -> None:
        """The job's model (or the kind's default) is in the catalog, the key may use it, and
        it does the kind's task; 404, 403 or 400 otherwise."""
        alias = model or kind.default_model
        if alias is None:
            return
        if kind.task is not None:
            self.models.model(caller, alias, kind.task)
            return
        self.models.catalog_entry(alias)
        KeyService.check_model(caller, alias)

    # -- look up ---------------------------------------------------------------------------

    async def get(self, caller: ApiKey | None, job_id: str) -> Job:
        """The job; UnknownJob (404) also for another key's job, so ids leak nothing."""
        job = await self.store.get(job_id)
        owner = only_owner(caller)
        if owner is not None and job.owner != owner:
            raise errors.UnknownJob(f"No job has the id '{job_id}'.")
        return job

    async def list_jobs(
        self,
        caller: ApiKey | None,
        *,
        statuses: frozenset[JobStatus] = frozenset(),
        kind: str | None = None,
        model: str | None = None,
        before: str | None = None,
        limit: int = 50,
    ) -> list[Job]:
        """Jobs newest first (the caller's own, unless it sees all); pass the last id as
        ``before`` for the next page."""
        if not 1 <= limit <= MAX_LIST + 1:
            raise errors.InvalidRequest(f"limit must be between 1 and {MAX_LIST}, not {limit}.")
        query = JobQuery(statuses, kind, model, before, limit, only_owner(caller))
        return await self.store.list_jobs(query)

    async def place(self, job: Job) -> Place:
        """A queued job's place in line and estimated start (from recent run times and the
        live workers' slots); nothing for other jobs."""
        if job.status is not JobStatus.QUEUED:
            return Place(None, None)
        position = await self.store.queue_position(job.id)
        durations = await self.store.recent_durations(job.kind)
        slots = max(1, sum(w.concurrency for w in await self.store.workers()))
        typical = statistics.median(durations) if durations else 0.0
        start = max(time.time(), job.run_after) + ((position or 0) // slots) * typical
        return Place(position, start)

    async def cancel(self, caller: ApiKey | None, job_id: str) -> tuple[Job, bool]:
        """Cancel the job; also say whether this call changed it (False: it had ended)."""
        current = await self.get(caller, job_id)
        if current.status.terminal:
            return current, False
        return await self.store.cancel(job_id), True

    async def events(self, caller: ApiKey | None, job_id: str, after: int = 0) -> list[JobEvent]:
        await self.get(caller, job_id)
        return await self.store.events(job_id, after)

    async def artifact(
        self, caller: ApiKey | None, job_id: str, name: str
    ) -> tuple[Artifact, Path]:
        """One artifact the job recorded and where its file is; UnknownArtifact otherwise."""
        job = await self.get(caller, job_id)
        artifact = next((a for a in job.artifacts if a.name == name), None)
        folder = job_dir(self.outputs_dir, job).resolve()
        path = (folder / name).resolve()
        if artifact is None or path.parent != folder or not path.is_file():
            raise errors.UnknownArtifact(f"Job '{job_id}' has no artifact named '{name}'.")
        return artifact, path

    def folder(self, job: Job) -> Path:
        """The job's output folder."""
        return job_dir(self.outputs_dir, job)

    async def follow(
        self,
        caller: ApiKey | None,
        job_id: str,
        on_event: EventSink | None = None,
        *,
        poll_seconds: float = 0.2,
    ) -> Job:
        """Wait until the job ends, passing each new event to ``on_event``; return the job."""
        await self.get(caller, job_id)
        seen = 0
        while True:
            for event in await self.store.events(job_id, after=seen):
                seen = event.seq
                if on_event is not None:
                    outcome = on_event(event)
                    if outcome is not None:
                        await outcome
            job = await self.store.get(job_id)
            if job.status.terminal and job.last_event <= seen:
                return job
            await asyncio.sleep(poll_seconds)


def _check_numbers(
    priority: int, attempts: int, timeout: float | None, idempotency_key: str | None
) -> None:
    if not -MAX_PRIORITY <= priority <= MAX_PRIORITY:
        raise errors.InvalidRequest(
            f"priority must be between -{MAX_PRIORITY} and {MAX_PRIORITY}, not {priority}."
        )
    if not 1 <= attempts <= 100:
        raise errors.InvalidRequest(f"max attempts must be between 1 and 100, not {attempts}.")
    if timeout is not None and not timeout > 0:
        raise errors.InvalidRequest(f"timeout must be a positive number of seconds, not {timeout}.")
    if idempotency_key is not None and not 0 < len(idempotency_key) <= 200:
        raise errors.InvalidRequest("idempotency key must be 1 to 200 characters long.")
