"""``/healthz`` (the process answers) and ``/readyz`` (it can do work)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from berth.http.runtime import ServicesDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Alive: the server answers."""
    return {"status": "ok"}


@router.get("/readyz", response_model=None)
async def readyz(services: ServicesDep) -> JSONResponse:
    """Ready: the job store answers and this server's dispatcher runs (503 otherwise); also
    each MCP server of the settings and how it loaded (one that failed does not make Berth
    unready: its tools are missing, the rest works)."""
    ready, report = await services.status.readiness()
    status = "ready" if ready else "unavailable"
    body = {
        "status": status,
        **report,
        "realtime_sessions": services.realtime.active,
        "agent_sessions": await services.agents.sessions(),
        "tool_sources": services.agents.sources(),
    }
    return JSONResponse(body, status_code=200 if ready else 503)
