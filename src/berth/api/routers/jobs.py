"""``/v1/jobs``: submit, list, look up, cancel, follow and download from jobs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Response
from fastapi.responses import FileResponse, StreamingResponse

from berth import errors
from berth.api.schemas.jobs import ArtifactList, JobCreate, JobList, JobOut
from berth.api.sse import job_events
from berth.http.auth import JobsCaller, require
from berth.http.runtime import ServicesDep
from berth.jobs.job import Job, JobStatus
from berth.keys.key import Scope
from berth.services import Services

router = APIRouter(prefix="/v1/jobs", tags=["jobs"], dependencies=[Depends(require(Scope.JOBS))])


async def described(services: Services, job: Job) -> JobOut:
    """The job as the API shows it; a queued one with its place in line and start estimate."""
    place = await services.jobs.place(job)
    return JobOut.of(job, position=place.position, start=place.start)


@router.post("", status_code=201, response_model=JobOut)
async def create_job(
    body: JobCreate,
    response: Response,
    key: JobsCaller,
    services: ServicesDep,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> JobOut:
    """Submit a job. An idempotency key (body or header) that exists returns that job (200).

    A key with a limit on concurrent jobs gets 429 while it has that many queued or running.
    """
    submission = await services.jobs.submit(
        key,
        body.kind,
        body.input,
        model=body.model,
        priority=body.priority,
        max_attempts=body.max_attempts,
        timeout=body.timeout,
        idempotency_key=body.idempotency_key or idempotency_key,
    )
    if not submission.created:
        response.status_code = 200
    return await described(services, submission.job)


@router.get("", response_model=JobList)
async def list_jobs(
    key: JobsCaller,
    services: ServicesDep,
    status: Annotated[list[JobStatus] | None, Query()] = None,
    kind: Annotated[str | None, Query(max_length=100)] = None,
    model: Annotated[str | None, Query(max_length=200)] = None,
    before: Annotated[str | None, Query(max_length=40, description="A job id: the cursor.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> JobList:
    """Jobs newest first, filtered; page with ``before=<next_cursor>``."""
    jobs = await services.jobs.list_jobs(
        key,
        statuses=frozenset(status or ()),
        kind=kind,
        model=model,
        before=before,
        limit=limit + 1,
    )
    page = jobs[:limit]
    more = len(jobs) > limit
    return JobList(
        data=[JobOut.of(job) for job in page],
        has_more=more,
        next_cursor=page[-1].id if more and page else None,
    )


@router.get("/{job_id}", response_model=JobOut)
async def get_job(job_id: str, key: JobsCaller, services: ServicesDep) -> JobOut:
    """One job; a queued job also says its queue position and estimated start."""
    return await described(services, await services.jobs.get(key, job_id))


@router.post("/{job_id}/cancel", response_model=JobOut)
async def cancel_job(job_id: str, key: JobsCaller, services: ServicesDep) -> JobOut:
    """Cancel a queued job at once, or ask a running one to stop."""
    job, _ = await services.jobs.cancel(key, job_id)
    return JobOut.of(job)


@router.get("/{job_id}/events", response_class=StreamingResponse)
async def job_event_stream(
    job_id: str,
    key: JobsCaller,
    services: ServicesDep,
    last_event_id: Annotated[str | None, Header()] = None,
    after: Annotated[int | None, Query(ge=0)] = None,
) -> StreamingResponse:
    """Server-sent events: queued, started, progress, artifact, succeeded, failed, cancelled.

    Resumes after the ``Last-Event-ID`` header (or ``after``); ends when the job does.
    """
    await services.jobs.get(key, job_id)
    start = after or 0
    if last_event_id is not None:
        if not last_event_id.strip().isdigit():
            raise errors.InvalidRequest("Last-Event-ID must be an event id (a whole number).")
        start = int(last_event_id)
    return StreamingResponse(
        job_events(services.jobs, key, job_id, start),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get("/{job_id}/artifacts", response_model=ArtifactList)
async def list_artifacts(job_id: str, key: JobsCaller, services: ServicesDep) -> ArtifactList:
    """The files the job left."""
    job = await services.jobs.get(key, job_id)
    return ArtifactList(data=JobOut.of(job).artifacts)


@router.get("/{job_id}/artifacts/{name}", response_class=FileResponse)
async def get_artifact(
    job_id: str, name: str, key: JobsCaller, services: ServicesDep
) -> FileResponse:
    """Download one artifact. Only names the job recorded are served."""
    artifact, path = await services.jobs.artifact(key, job_id, name)
    return FileResponse(path, media_type=artifact.media_type, filename=name)
