"""The models page: the catalog with cache state, and pull, verify, remove, load, unload, pin.

A pull runs as a ``pull`` job, so its progress is that job's event stream; the page follows
the pulls in flight and reloads when one ends.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from berth import errors
from berth.http.auth import require
from berth.http.runtime import services
from berth.jobs.job import JobStatus
from berth.keys.key import Scope
from berth.services import Services
from berth.services.models import answers_for
from berth.web.access import Visitor
from berth.web.render import acted, page, shown

router = APIRouter(include_in_schema=False)
ACTIONS = ("pull", "verify", "remove", "load", "unload", "pin", "unpin")
IN_FLIGHT = frozenset({JobStatus.QUEUED, JobStatus.RUNNING})


async def catalog(found: Services) -> list[dict[str, Any]]:
    """Each entry with its cache state and, if loaded here, its pool details."""
    loaded = {alias: m for m in found.models.resident_here() for alias in answers_for(m)}
    pinned = {alias for alias, m in loaded.items() if m.get("pinned")}
    entries = []
    for status in await found.models.list_models():
        entry = status.to_json()
        entry["loaded_here"] = status.spec.alias in loaded
        entry["pinned"] = status.spec.alias in pinned or status.spec.options.pinned
        entries.append(entry)
    return entries


@router.get("/ui/api/models", dependencies=[Depends(require(Scope.INFER))])
async def models_data(request: Request) -> list[dict[str, Any]]:
    """The catalog with each entry's state, for the models page and the model pickers."""
    return await catalog(services(request))


@router.get("/models")
async def models_page(request: Request) -> Response:
    async def build(who: Visitor) -> Response:
        found = services(request)
        pulls = await found.jobs.list_jobs(who.key, statuses=IN_FLIGHT, kind="pull", limit=100)
        context = {
            "title": "Models",
            "models": await catalog(found),
            "pulls": {job.model: job for job in pulls if job.model},
            "note": request.query_params.get("note", ""),
            "can_admin": Scope.ADMIN in who.scopes(),
        }
        return page(request, who, "models.html", context)

    return await shown(request, Scope.INFER, build)


async def _act(found: Services, who: Visitor, alias: str, action: str) -> str:
    """Do ``action`` to ``alias``; answer what happened, in words."""
    models = found.models
    if action == "pull":
        job = (await found.jobs.submit(who.key, "pull", {}, model=alias)).job
        return f"Pulling {alias} (job {job.id})."
    if action == "verify":
        report = (await asyncio.to_thread(models.verify, alias))[0]
        problems = "; ".join(check.describe() for check in report.bad)
        return f"{alias} is {report.state.value}." + (f" {problems}" if problems else "")
    if action == "remove":
        freed = await asyncio.to_thread(models.remove, alias)
        return f"Removed {alias}: freed {freed:,} bytes."
    if action == "load":
        await models.load(alias)
        return f"Loaded {alias}."
    if action == "unload":
        await models.unload(alias)
        return f"Unloaded {alias}."
    models.pin(alias, action == "pin")
    return f"{'Pinned' if action == 'pin' else 'Unpinned'} {alias}."


@router.post("/models/{alias}/{action}")
async def model_action(alias: str, action: str, request: Request) -> Response:
    async def act(who: Visitor) -> Response:
        if action not in ACTIONS:
            raise errors.InvalidRequest(
                f"There is no model action '{action}'. Use one of: {', '.join(ACTIONS)}."
            )
        found = services(request)
        found.models.get(alias)
        note = await _act(found, who, alias, action)
        return RedirectResponse(f"/models?note={quote(note)}", status_code=303)

    return await acted(request, Scope.ADMIN, act)
