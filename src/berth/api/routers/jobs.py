"""``/v1/jobs``: submit, list, look up, cancel, follow and download from jobs."""

from __future__ import annotations

import statistics
import time
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import FileResponse, StreamingResponse

from berth import errors
from berth.api.auth import require
from berth.api.runtime import Runtime, runtime
from berth.api.schemas.jobs import ArtifactList, JobCreate, JobList, JobOut
from berth.api.sse import job_events
from berth.jobs.job import Job, JobStatus
from berth.jobs.outputs import job_dir
from berth.keys.key import ApiKey, Scope

router = APIRouter(prefix="/v1/jobs", tags=["jobs"], dependencies=[Depends(require(Scope.JOBS))])
Caller = Annotated[ApiKey | None, Depends(require(Scope.JOBS))]


async def _described(rt: Runtime, job: Job) -> JobOut:
    if job.status is not JobStatus.QUEUED:
        return JobOut.of(job)
    position = await rt.berth.store.queue_position(job.id)
    durations = await rt.berth.store.recent_durations(job.kind)
    slots = max(1, sum(w.concurrency for w in await rt.berth.store.workers()))
    typical = statistics.median(durations) if durations else 0.0
    ahead = position or 0
    start = max(time.time(), job.run_after) + (ahead // slots) * typical
    return JobOut.of(job, position=position, start=start)


@router.post("", status_code=201, response_model=JobOut)
async def create_job(
    body: JobCreate,
    request: Request,
    response: Response,
    key: Caller,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> JobOut:
    """Submit a job. An idempotency key (body or header) that exists returns that job (200).

    A key with a limit on concurrent jobs gets 429 while it has that many queued or running.
    """
    rt = runtime(request)
    await rt.keys.check_job_slots(key)
    submission = await rt.berth.jobs.submit(
        body.kind,
        body.input,
        model=body.model,
        priority=body.priority,
        max_attempts=body.max_attempts,
        timeout=body.timeout,
        idempotency_key=body.idempotency_key or idempotency_key,
        owner=key.id if key is not None else None,
    )
    if not submission.created:
        response.status_code = 200
    return await _described(rt, submission.job)


@router.get("", response_model=JobList)
async def list_jobs(
    request: Request,
    status: Annotated[list[JobStatus] | None, Query()] = None,
    kind: Annotated[str | None, Query(max_length=100)] = None,
    model: Annotated[str | None, Query(max_length=200)] = None,
    before: Annotated[str | None, Query(max_length=40, description="A job id: the cursor.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> JobList:
    """Jobs newest first, filtered; page with ``before=<next_cursor>``."""
    jobs = await runtime(request).berth.jobs.list_jobs(
        statuses=frozenset(status or ()), kind=kind, model=model, before=before, limit=limit + 1
    )
    page = jobs[:limit]
    more = len(jobs) > limit
    return JobList(
        data=[JobOut.of(job) for job in page],
        has_more=more,
        next_cursor=page[-1].id if more and page else None,
    )


@router.get("/{job_id}", response_model=JobOut)
async def get_job(job_id: str, request: Request) -> JobOut:
    """One job; a queued job also says its queue position and estimated start."""
    rt = runtime(request)
    return await _described(rt, await rt.berth.jobs.get(job_id))


@router.post("/{job_id}/cancel", response_model=JobOut)
async def cancel_job(job_id: str, request: Request) -> JobOut:
    """Cancel a queued job at once, or ask a running one to stop."""
    job, _ = await runtime(request).berth.jobs.cancel(job_id)
    return JobOut.of(job)


@router.get("/{job_id}/events", response_class=StreamingResponse)
async def job_event_stream(
    job_id: str,
    request: Request,
    last_event_id: Annotated[str | None, Header()] = None,
    after: Annotated[int | None, Query(ge=0)] = None,
) -> StreamingResponse:
    """Server-sent events: queued, started, progress, artifact, succeeded, failed, cancelled.

    Resumes after the ``Last-Event-ID`` header (or ``after``); ends when the job does.
    """
    rt = runtime(request)
    await rt.berth.jobs.get(job_id)
    start = after or 0
    if last_event_id is not None:
        if not last_event_id.strip().isdigit():
            raise errors.InvalidRequest("Last-Event-ID must be an event id (a whole number).")
        start = int(last_event_id)
    return StreamingResponse(
        job_events(rt.berth.jobs, job_id, start),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get("/{job_id}/artifacts", response_model=ArtifactList)
async def list_artifacts(job_id: str, request: Request) -> ArtifactList:
    """The files the job left."""
    job = await runtime(request).berth.jobs.get(job_id)
    return ArtifactList(data=JobOut.of(job).artifacts)


@router.get("/{job_id}/artifacts/{name}", response_class=FileResponse)
async def get_artifact(job_id: str, name: str, request: Request) -> FileResponse:
    """Download one artifact. Only names the job recorded are served."""
    rt = runtime(request)
    job = await rt.berth.jobs.get(job_id)
    artifact = next((a for a in job.artifacts if a.name == name), None)
    folder = job_dir(rt.berth.settings.outputs_dir, job).resolve()
    path = (folder / name).resolve()
    if artifact is None or path.parent != folder or not path.is_file():
        raise errors.UnknownArtifact(f"Job '{job_id}' has no artifact named '{name}'.")
    return FileResponse(path, media_type=artifact.media_type, filename=name)
