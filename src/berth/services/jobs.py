"""Jobs as callers see them: submit with validation, look up, list, cancel, follow."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

from berth import errors, tracing
from berth.jobs.job import Job, JobEvent, JobQuery, JobStatus, JsonValue, NewJob, Submission
from berth.jobs.kind import JobKind
from berth.jobs.paths import DataRoots
from berth.jobs.store import JobStore
from berth.plugins import PluginRegistry

MAX_PRIORITY = 1_000_000
MAX_LIST = 1000
EventSink = Callable[[JobEvent], Awaitable[None] | None]


class JobService:
    """Validates what callers ask for and turns it into store calls."""

    def __init__(
        self,
        store: JobStore,
        registry: PluginRegistry,
        default_attempts: int,
        roots: DataRoots | None = None,
    ) -> None:
        self.store = store
        self.registry = registry
        self.default_attempts = default_attempts
        self.roots = roots

    def kinds(self) -> list[JobKind[Any]]:
        """Every kind that can be submitted, by name."""
        return [self.registry.kinds[name] for name in sorted(self.registry.kinds)]

    async def submit(
        self,
        kind: str,
        data: JsonValue,
        *,
        model: str | None = None,
        priority: int = 0,
        max_attempts: int | None = None,
        timeout: float | None = None,
        idempotency_key: str | None = None,
        owner: str | None = None,
    ) -> Submission:
        """Validate and persist a new job (or return the one with this idempotency key)."""
        self.registry.kind(kind).parse(data, self.roots)
        if not -MAX_PRIORITY <= priority <= MAX_PRIORITY:
            raise errors.InvalidRequest(
                f"priority must be between -{MAX_PRIORITY} and {MAX_PRIORITY}, not {priority}."
            )
        attempts = self.default_attempts if max_attempts is None else max_attempts
        if not 1 <= attempts <= 100:
            raise errors.InvalidRequest(f"max attempts must be between 1 and 100, not {attempts}.")
        if timeout is not None and not timeout > 0:
            raise errors.InvalidRequest(
                f"timeout must be a positive number of seconds, not {timeout}."
            )
        if idempotency_key is not None and not 0 < len(idempotency_key) <= 200:
            raise errors.InvalidRequest("idempotency key must be 1 to 200 characters long.")
        new = NewJob(
            kind=kind,
            input=data,
            model=model,
            priority=priority,
            max_attempts=attempts,
            timeout=timeout,
            idempotency_key=idempotency_key,
            owner=owner,
        )
        with tracing.tracer().start_as_current_span(
            "job.submit", attributes={"berth.job.kind": kind, "berth.model": model or ""}
        ):
            traced = dataclasses.replace(new, trace_parent=tracing.current_traceparent())
            return await self.store.submit(traced)

    async def get(self, job_id: str) -> Job:
        return await self.store.get(job_id)

    async def list_jobs(
        self,
        *,
        statuses: frozenset[JobStatus] = frozenset(),
        kind: str | None = None,
        model: str | None = None,
        before: str | None = None,
        limit: int = 50,
    ) -> list[Job]:
        """Jobs newest first; pass the last id as ``before`` for the next page."""
        if not 1 <= limit <= MAX_LIST:
            raise errors.InvalidRequest(f"limit must be between 1 and {MAX_LIST}, not {limit}.")
        query = JobQuery(statuses, kind, model, before, limit)
        return await self.store.list_jobs(query)

    async def cancel(self, job_id: str) -> tuple[Job, bool]:
        """Cancel the job; also say whether this call changed it (False: it had ended)."""
        current = await self.store.get(job_id)
        if current.status.terminal:
            return current, False
        return await self.store.cancel(job_id), True

    async def events(self, job_id: str, after: int = 0) -> list[JobEvent]:
        return await self.store.events(job_id, after)

    async def follow(
        self, job_id: str, on_event: EventSink | None = None, *, poll_seconds: float = 0.2
    ) -> Job:
        """Wait until the job ends, passing each new event to ``on_event``; return the job."""
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
