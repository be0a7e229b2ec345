"""``/healthz`` (the process answers) and ``/readyz`` (it can do work)."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from berth import errors
from berth.api.runtime import runtime
from berth.jobs.dispatcher import State

router = APIRouter(tags=["health"])
WORKER_FRESH_FACTOR = 3


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Alive: the server answers."""
    return {"status": "ok"}


@router.get("/readyz", response_model=None)
async def readyz(request: Request) -> JSONResponse:
    """Ready: the job store answers and this server's dispatcher runs (503 otherwise)."""
    rt = runtime(request)
    report: dict[str, Any] = {"store": "ok", "dispatcher": "absent"}
    ready = True
    try:
        workers = await rt.berth.store.workers()
    except errors.BerthError as exc:
        report["store"] = exc.message
        return JSONResponse({"status": "unavailable", **report}, status_code=503)
    if rt.dispatcher is not None:
        report["dispatcher"] = rt.dispatcher.state.value
        ready = rt.dispatcher.state is State.RUNNING
    fresh = time.time() - WORKER_FRESH_FACTOR * rt.berth.settings.heartbeat_seconds
    live = [w for w in workers if w.heartbeat_at >= fresh]
    report["workers"] = {
        "active": len(live),
        "busy": sum(1 for w in live if w.running > 0),
        "idle": sum(1 for w in live if w.running == 0),
        "running_jobs": sum(w.running for w in live),
    }
    report["models"] = sorted(
        {str(model.get("alias")) for w in live for model in w.models if model.get("alias")}
    )
    status = "ready" if ready else "unavailable"
    return JSONResponse({"status": status, **report}, status_code=200 if ready else 503)
