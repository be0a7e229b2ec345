"""Job pages: the live list, one job in detail (cancel, retry), and the submit forms."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from berth import errors
from berth.http.runtime import services
from berth.jobs.job import Job, JobStatus
from berth.keys.key import Scope
from berth.services import Services
from berth.web.access import Visitor
from berth.web.forms import fields_of, read_form
from berth.web.render import acted, page, shown

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 25
PREVIEW_BYTES = 64 * 1024
TEXT_TYPES = ("application/json", "application/x-ndjson", "application/jsonl")
KIND_PAGES = {
    "agent": ("Agent run: its trace, approvals and tools", "/agents/runs/{id}"),
    "train": ("Training: loss, checkpoints and samples", "/training/{id}"),
    "eval-dataset": ("Dataset report", "/datasets/{id}"),
}
"""The page of its own that a job of each of these kinds has (label and path), linked from
the job's page; each of those pages links back."""


def shown_job(job: Job) -> dict[str, Any]:
    """A job as the pages show it: its record, with each artifact's download URL."""
    base = f"/v1/jobs/{job.id}/artifacts"
    return {
        "id": job.id,
        "kind": job.kind,
        "model": job.model,
        "status": job.status.value,
        "input": job.input,
        "attempts": job.attempts,
        "max_attempts": job.max_attempts,
        "created_at": job.created_at,
        "progress": job.progress,
        "progress_message": job.progress_message,
        "result": job.result,
        "error": job.error,
        "artifacts": [
            {"name": a.name, "media_type": a.media_type, "size": a.size, "url": f"{base}/{a.name}"}
            for a in job.artifacts
        ],
        "last_event_id": job.last_event,
    }


def _filters(request: Request) -> dict[str, str]:
    query = request.query_params
    return {name: query[name] for name in ("status", "kind", "model") if query.get(name)}


@router.get("/jobs")
async def jobs_page(request: Request) -> Response:
    async def build(who: Visitor) -> Response:
        filters = _filters(request)
        status = filters.get("status")
        if status is not None and status not in {s.value for s in JobStatus}:
            raise errors.InvalidRequest(f"There is no job status '{status}'.")
        before = request.query_params.get("before") or None
        found = await services(request).jobs.list_jobs(
            who.key,
            statuses=frozenset({JobStatus(status)}) if status else frozenset(),
            kind=filters.get("kind"),
            model=filters.get("model"),
            before=before,
            limit=PAGE_SIZE + 1,
        )
        shown_jobs = found[:PAGE_SIZE]
        more = urlencode({**filters, "before": shown_jobs[-1].id}) if len(found) > PAGE_SIZE else ""
        context = {
            "title": "Jobs",
            "jobs": [shown_job(job) for job in shown_jobs],
            "filters": filters,
            "statuses": [s.value for s in JobStatus],
            "kinds": [kind.name for kind in services(request).jobs.kinds()],
            "live": before is None,
            "api_query": urlencode({**filters, "limit": PAGE_SIZE}),
            "next_query": more,
        }
        return page(request, who, "jobs.html", context)

    return await shown(request, Scope.JOBS, build)


def _preview(folder: Path, name: str, media_type: str) -> str | None:
    """The start of a text artifact, to show as text; None for other types."""
    if not (media_type.startswith("text/") or media_type in TEXT_TYPES):
        return None
    path = (folder / name).resolve()
    if path.parent != folder or not path.is_file():
        return None
    with path.open("rb") as handle:
        data = handle.read(PREVIEW_BYTES + 1)
    text = data[:PREVIEW_BYTES].decode("utf-8", errors="replace")
    return text + "\n…" if len(data) > PREVIEW_BYTES else text


def timings(job: Job) -> list[tuple[str, float | None]]:
    """How long the job queued and ran (so far, if it still runs)."""
    end = job.finished_at or time.time()
    queued = (job.started_at or end) - job.created_at
    running = end - job.started_at if job.started_at else None
    return [("Queued", queued), ("Running", running)]


def kind_page(job: Job) -> tuple[str, str] | None:
    """The label and path of the job's own page, if its kind has one."""
    found = KIND_PAGES.get(job.kind)
    return (found[0], found[1].format(id=job.id)) if found else None


async def _first_progress(found: Services, who: Visitor, job: Job) -> float | None:
    """Seconds from the start to the first progress report: loading and warming up."""
    if job.started_at is None:
        return None
    for event in await found.jobs.events(who.key, job.id):
        if event.type.value == "progress" and event.at >= job.started_at:
            return event.at - job.started_at
    return None


@router.get("/jobs/{job_id}")
async def job_page(job_id: str, request: Request) -> Response:
    async def build(who: Visitor) -> Response:
        found = services(request)
        job = await found.jobs.get(who.key, job_id)
        folder = found.jobs.folder(job).resolve()
        previews = {a.name: _preview(folder, a.name, a.media_type) for a in job.artifacts}
        context: dict[str, Any] = {
            "title": f"Job {job.id}",
            "job": shown_job(job),
            "timings": timings(job),
            "warmup": await _first_progress(found, who, job),
            "previews": previews,
            "events": await found.jobs.events(who.key, job.id),
            "terminal": job.status.terminal,
            "kind_page": kind_page(job),
        }
        return page(request, who, "job.html", context)

    return await shown(request, Scope.JOBS, build)


@router.post("/jobs/{job_id}/cancel")
async def cancel_job(job_id: str, request: Request) -> Response:
    async def act(who: Visitor) -> Response:
        await services(request).jobs.cancel(who.key, job_id)
        return RedirectResponse(f"/jobs/{job_id}", status_code=303)

    return await acted(request, Scope.JOBS, act)


@router.post("/jobs/{job_id}/retry")
async def retry_job(job_id: str, request: Request) -> Response:
    """Submit the job again, as a new job with the same kind, input and settings."""

    async def act(who: Visitor) -> Response:
        jobs = services(request).jobs
        job = await jobs.get(who.key, job_id)
        again = await jobs.submit(
            who.key,
            job.kind,
            job.input,
            model=job.model,
            priority=job.priority,
            max_attempts=job.max_attempts,
            timeout=job.timeout,
        )
        return RedirectResponse(f"/jobs/{again.job.id}", status_code=303)

    return await acted(request, Scope.JOBS, act)


@router.get("/submit")
async def submit_index(request: Request) -> Response:
    async def build(who: Visitor) -> Response:
        kinds = services(request).jobs.kinds()
        return page(request, who, "submit_index.html", {"title": "Submit a job", "kinds": kinds})

    return await shown(request, Scope.JOBS, build)


def _form_context(found: Services, kind_name: str) -> dict[str, Any]:
    kind = found.jobs.registry.kind(kind_name)
    return {
        "title": f"Submit: {kind.name}",
        "kind": kind,
        "fields": fields_of(kind),
        "models": [spec.alias for spec in found.inference.models()],
        "chosen_model": "",
        "priority": "0",
        "general": None,
    }


@router.get("/submit/{kind_name}")
async def submit_form(kind_name: str, request: Request) -> Response:
    async def build(who: Visitor) -> Response:
        context = _form_context(services(request), kind_name)
        context["chosen_model"] = request.query_params.get("model", "")
        return page(request, who, "submit.html", context)

    return await shown(request, Scope.JOBS, build)


@router.post("/submit/{kind_name}")
async def submit_job(kind_name: str, request: Request) -> Response:
    async def act(who: Visitor) -> Response:
        found = services(request)
        context = _form_context(found, kind_name)
        form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
        data, general = read_form(context["kind"], context["fields"], form)
        model = form.get("model") or None
        context.update(chosen_model=model or "", priority=form.get("priority", "0"))
        try:
            priority = int(form.get("priority") or 0)
        except ValueError:
            general = "Priority must be a whole number."
        if general or any(f.error for f in context["fields"]):
            context["general"] = general
            return page(request, who, "submit.html", context, status=400)
        submission = await found.jobs.submit(
            who.key, kind_name, data, model=model, priority=priority
        )
        return RedirectResponse(f"/jobs/{submission.job.id}", status_code=303)

    return await acted(request, Scope.JOBS, act)
