"""The dashboard: devices and their memory, the queue, throughput and recent failures.

``/ui/api/dashboard`` answers the same figures as JSON; the page polls it to stay live.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from berth.api.auth import require
from berth.api.runtime import Runtime, runtime
from berth.jobs.job import TERMINAL, JobStatus
from berth.keys.key import Scope
from berth.web.access import Visitor
from berth.web.render import page, shown

router = APIRouter(include_in_schema=False)
RATE_WINDOW_SECONDS = 300.0
RECENT_FAILURES = 5


def devices(rt: Runtime) -> list[dict[str, Any]]:
    """Each device in use: its budget, what is held, and the models that hold it."""
    pool = rt.berth.pool
    loaded = pool.describe()
    found = []
    for name, memory in pool.memory().items():
        models = [
            {
                "alias": m.get("alias"),
                "memory_bytes": m.get("memory_bytes"),
                "idle_seconds": m.get("idle_seconds"),
                "pinned": bool(m.get("pinned")),
                "requests": m.get("requests"),
            }
            for m in loaded
            if m.get("device") == name
        ]
        found.append({"device": name, **memory, "models": models})
    return found


async def overview(rt: Runtime) -> dict[str, Any]:
    """Everything the dashboard shows, as JSON."""
    jobs = rt.berth.jobs
    depth = {status.value: 0 for status in JobStatus}
    for (status, _), count in (await rt.berth.store.counts()).items():
        depth[status.value] += count
    now = time.time()
    ended = await jobs.list_jobs(statuses=TERMINAL, limit=1000)
    recent = [j for j in ended if j.finished_at and now - j.finished_at <= RATE_WINDOW_SECONDS]
    failures = await jobs.list_jobs(statuses=frozenset({JobStatus.FAILED}), limit=RECENT_FAILURES)
    return {
        "devices": devices(rt),
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


@router.get("/ui/api/dashboard", dependencies=[Depends(require(Scope.JOBS))])
async def dashboard_data(request: Request) -> dict[str, Any]:
    """The dashboard's figures (see :func:`overview`)."""
    return await overview(runtime(request))


@router.get("/")
async def dashboard(request: Request) -> Response:
    async def build(who: Visitor) -> Response:
        data = await overview(runtime(request))
        return page(request, who, "dashboard.html", {"data": data, "title": "Dashboard"})

    return await shown(request, Scope.JOBS, build)
