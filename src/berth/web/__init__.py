"""Berth's web UI: pages rendered on the server over the same services as the HTTP API.

:func:`install` adds its routes to the API app; the pages' scripts call the API itself (its
JSON endpoints and event streams), authenticated by the session cookie (see
:mod:`berth.http.session`).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from berth.http.session import SessionSigner
from berth.web import (
    agents,
    dashboard,
    diffusion,
    evals,
    jobs,
    login,
    models,
    playground,
    training,
    vectors,
)

STATIC = Path(__file__).parent / "static"
PAGES = (agents, dashboard, diffusion, evals, jobs, login, models, playground, training, vectors)


def install(app: FastAPI, home: Path) -> None:
    """Serve the UI from ``app``: pages at ``/``, files at ``/ui/static``; sessions are
    signed with the secret kept in ``home``."""
    app.state.sessions = SessionSigner.for_home(home)
    for module in PAGES:
        app.include_router(module.router)
    app.mount("/ui/static", StaticFiles(directory=STATIC), name="ui-static")
