"""The HTTP API's routes: OpenAI-compatible endpoints, jobs, model administration, health
and metrics, each router behind the scope it needs. :func:`berth.site.create_app` mounts
them beside the web UI."""

from __future__ import annotations

from fastapi import Depends, FastAPI

from berth.api.routers import (
    admin,
    agents,
    audio,
    chat,
    embeddings,
    evals,
    files,
    fine_tuning,
    health,
    images,
    jobs,
    metrics,
    models,
    ocr,
    realtime,
    speech,
    vad,
    vectors,
)
from berth.http.auth import require


def install(app: FastAPI) -> None:
    """Add the API's routers to ``app``."""
    app.include_router(health.router)
    app.include_router(jobs.router)
    app.include_router(files.router, dependencies=[Depends(require("jobs"))])
    app.include_router(evals.router, dependencies=[Depends(require("jobs"))])
    app.include_router(vectors.router, dependencies=[Depends(require("jobs"))])
    app.include_router(fine_tuning.router, dependencies=[Depends(require("jobs"))])
    app.include_router(agents.router, dependencies=[Depends(require("jobs"))])
    infer = [Depends(require("infer"))]
    for module in (models, embeddings, chat, images, audio, speech, vad, ocr):
        app.include_router(module.router, dependencies=infer)
    app.include_router(realtime.router)  # authenticates its upgrade itself (infer)
    app.include_router(admin.router, dependencies=[Depends(require("admin"))])
    app.include_router(metrics.router)
