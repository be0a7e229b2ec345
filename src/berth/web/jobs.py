"""Job pages: the live list, one job in detail (cancel, retry), and the submit forms."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from berth import errors
from berth.api.runtime import Runtime, runtime
from berth.api.schemas.jobs import JobOut
from berth.jobs.job import Job, JobStatus
from berth.jobs.outputs import job_dir
from berth.keys.key import Scope
from berth.services.keys import KeyService
from berth.web.access import Visitor
from berth.web.forms import fields_of, read_form
from berth.web.render import acted, page, shown

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 25
PREVIEW_BYTES = 64 * 1024
TEXT_TYPES = ("application/json", "application/x-ndjson", "application/jsonl")


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
        found = await runtime(request).berth.jobs.list_jobs(
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
            "jobs": [JobOut.of(job) for job in shown_jobs],
            "filters": filters,
            "statuses": [s.value for s in JobStatus],
            "kinds": sorted(runtime(request).berth.registry.kinds),
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


async def _first_progress(rt: Runtime, job: Job) -> float | None:
    """Seconds from the start to the first progress report: loading and warming up."""
    if job.started_at is None:
        return None
    for event in await rt.berth.jobs.events(job.id):
        if event.type.value == "progress" and event.at >= job.started_at:
            return event.at - job.started_at
    return None


@router.get("/jobs/{job_id}")
async def job_page(job_id: str, request: Request) -> Response:
    async def build(who: Visitor) -> Response:
        rt = runtime(request)
        job = await rt.berth.jobs.get(job_id)
        folder = job_dir(rt.berth.settings.outputs_dir, job).resolve()
        out = JobOut.of(job)
        previews = {a.name: _preview(folder, a.name, a.media_type) for a in out.artifacts}
        context: dict[str, Any] = {
            "title": f"Job {job.id}",
            "job": out,
            "timings": timings(job),
            "warmup": await _first_progress(rt, job),
            "previews": previews,
            "events": await rt.berth.jobs.events(job.id),
            "terminal": job.status.terminal,
        }
        return page(request, who, "job.html", context)

    return await shown(request, Scope.JOBS, build)


@router.post("/jobs/{job_id}/cancel")
async def cancel_job(job_id: str, request: Request) -> Response:
    async def act(who: Visitor) -> Response:
        await runtime(request).berth.jobs.cancel(job_id)
        return RedirectResponse(f"/jobs/{job_id}", status_code=303)

    return await acted(request, Scope.JOBS, act)


@router.post("/jobs/{job_id}/retry")
async def retry_job(job_id: str, request: Request) -> Response:
    """Submit the job again, as a new job with the same kind, input and settings."""

    async def act(who: Visitor) -> Response:
        rt = runtime(request)
        job = await rt.berth.jobs.get(job_id)
        await rt.keys.check_job_slots(who.key)
        again = await rt.berth.jobs.submit(
            job.kind,
            job.input,
            model=job.model,
            priority=job.priority,
            max_attempts=job.max_attempts,
            timeout=job.timeout,
            owner=who.key.id if who.key else None,
        )
        return RedirectResponse(f"/jobs/{again.job.id}", status_code=303)

    return await acted(request, Scope.JOBS, act)


@router.get("/submit")
async def submit_index(request: Request) -> Response:
    async def build(who: Visitor) -> Response:
        kinds = runtime(request).berth.jobs.kinds()
        return page(request, who, "submit_index.html", {"title": "Submit a job", "kinds": kinds})

    return await shown(request, Scope.JOBS, build)


def _form_context(rt: Runtime, kind_name: str) -> dict[str, Any]:
    kind = rt.berth.registry.kind(kind_name)
    return {
        "title": f"Submit: {kind.name}",
        "kind": kind,
        "fields": fields_of(kind),
        "models": [spec.alias for spec in rt.berth.catalog.specs()],
        "chosen_model": "",
        "priority": "0",
        "general": None,
    }


@router.get("/submit/{kind_name}")
async def submit_form(kind_name: str, request: Request) -> Response:
    async def build(who: Visitor) -> Response:
        context = _form_context(runtime(request), kind_name)
        context["chosen_model"] = request.query_params.get("model", "")
        return page(request, who, "submit.html", context)

    return await shown(request, Scope.JOBS, build)


@router.post("/submit/{kind_name}")
async def submit_job(kind_name: str, request: Request) -> Response:
    async def act(who: Visitor) -> Response:
        rt = runtime(request)
        context = _form_context(rt, kind_name)
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
        if model is not None:
            rt.berth.catalog.get(model)
            KeyService.check_model(who.key, model)
        await rt.keys.check_job_slots(who.key)
        submission = await rt.berth.jobs.submit(
            kind_name, data, model=model, priority=priority, owner=who.key.id if who.key else None
        )
        return RedirectResponse(f"/jobs/{submission.job.id}", status_code=303)

    return await acted(request, Scope.JOBS, act)
