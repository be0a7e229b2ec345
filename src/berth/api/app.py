"""Builds the FastAPI app over a running Berth."""

from __future__ import annotations

from fastapi import Depends, FastAPI

from berth import __version__, web
from berth.api import problems
from berth.api.auth import require
from berth.api.limits import BodyLimit
from berth.api.observe import RequestMetrics, RequestTracing
from berth.api.routers import (
    admin,
    audio,
    chat,
    embeddings,
    health,
    images,
    jobs,
    metrics,
    models,
    ocr,
    speech,
    vad,
)
from berth.api.runtime import Runtime


def create_app(runtime: Runtime) -> FastAPI:
    """The API app. ``runtime`` holds Berth's services; the caller opens and closes them."""
    app = FastAPI(
        title="Berth",
        version=__version__,
        description="A self-hosted runtime for AI models: OpenAI-compatible endpoints and "
        "durable jobs.",
    )
    app.state.runtime = runtime
    problems.install(app)
    app.include_router(health.router)
    app.include_router(jobs.router)
    infer = [Depends(require("infer"))]
    app.include_router(models.router, dependencies=infer)
    app.include_router(embeddings.router, dependencies=infer)
    app.include_router(chat.router, dependencies=infer)
    app.include_router(images.router, dependencies=infer)
    app.include_router(audio.router, dependencies=infer)
    app.include_router(speech.router, dependencies=infer)
    app.include_router(vad.router, dependencies=infer)
    app.include_router(ocr.router, dependencies=infer)
    app.include_router(admin.router, dependencies=[Depends(require("admin"))])
    app.include_router(metrics.router)
    web.install(app, runtime)
    app.add_middleware(BodyLimit, max_bytes=runtime.berth.settings.max_request_bytes)
    app.add_middleware(RequestMetrics)
    app.add_middleware(RequestTracing)
    return app
