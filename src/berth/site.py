"""The site: one ASGI application that serves the HTTP API and the web UI over one Berth's
services, on the shared HTTP layer (:mod:`berth.http`). Neither of the two imports the
other; this module puts them side by side.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from berth import __version__, api, web
from berth.app import Berth
from berth.http import problems
from berth.http.limits import BodyLimit
from berth.http.observe import RequestMetrics, RequestTracing
from berth.settings import Settings


def create_app(berth: Berth) -> FastAPI:
    """The application over ``berth``'s services; the caller opens and closes ``berth``."""
    app = FastAPI(
        title="Berth",
        version=__version__,
        description="A self-hosted runtime for AI models: OpenAI-compatible endpoints and "
        "durable jobs.",
    )
    app.state.services = berth.services
    problems.install(app)
    api.install(app)
    web.install(app, berth.settings.home)
    uploads = {"/v1/files": berth.settings.max_file_bytes}
    app.add_middleware(BodyLimit, max_bytes=berth.settings.max_request_bytes, larger=uploads)
    app.add_middleware(RequestMetrics)
    app.add_middleware(RequestTracing)
    return app


def openapi_document(settings: Settings) -> dict[str, Any]:
    """The document ``GET /openapi.json`` serves, built without a running server."""
    document: dict[str, Any] = create_app(Berth(settings)).openapi()
    return document


def write_openapi(path: Path, settings: Settings) -> None:
    """Write the document as stable, diff-friendly JSON (``scripts/openapi``)."""
    text = json.dumps(openapi_document(settings), indent=2, sort_keys=True)
    path.write_text(text + "\n")
