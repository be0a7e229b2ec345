"""The dashboard: devices and their memory, the queue, throughput and recent failures.

``/ui/api/dashboard`` answers the same figures as JSON; the page polls it to stay live.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from berth.http.auth import JobsCaller
from berth.http.runtime import ServicesDep, services
from berth.keys.key import Scope
from berth.web.access import Visitor
from berth.web.render import page, shown

router = APIRouter(include_in_schema=False)


@router.get("/ui/api/dashboard")
async def dashboard_data(key: JobsCaller, found: ServicesDep) -> dict[str, Any]:
    """The dashboard's figures (see ``StatusService.overview``)."""
    return await found.status.overview(key)


@router.get("/")
async def dashboard(request: Request) -> Response:
    async def build(who: Visitor) -> Response:
        data = await services(request).status.overview(who.key)
        return page(request, who, "dashboard.html", {"data": data, "title": "Dashboard"})

    return await shown(request, Scope.JOBS, build)
