"""Turning templates into responses, and Berth's errors into error pages.

Every template is autoescaped: whatever a job, a model or a person wrote shows as text.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from berth import __version__, errors
from berth.http.problems import status_of
from berth.keys.key import Scope
from berth.web.access import Visitor, check_form, set_session_cookie, visitor

TEMPLATES = Path(__file__).parent / "templates"
NAV = (
    ("/", "Dashboard"),
    ("/jobs", "Jobs"),
    ("/evals", "Evals"),
    ("/submit", "Submit"),
    ("/models", "Models"),
    ("/vectors", "Vectors"),
    ("/playground", "Playground"),
)


def size(value: int | None) -> str:
    """Bytes for people: 1.5 MB."""
    if value is None:
        return "—"
    amount = float(value)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(amount) < 1000 or unit == "TB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1000
    return f"{value} B"


def when(value: float | None) -> str:
    """A timestamp in UTC, to the second."""
    if value is None:
        return "—"
    moment = datetime.datetime.fromtimestamp(value, tz=datetime.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def seconds(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.2f} s" if value < 60 else f"{value / 60:.1f} min"


def pretty(value: Any) -> str:
    """JSON for reading (escaped by the template like any text)."""
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


environment = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)
environment.filters.update(size=size, when=when, seconds=seconds, pretty=pretty, compact=compact)


def page(
    request: Request,
    who: Visitor | None,
    template: str,
    context: Mapping[str, Any],
    status: int = 200,
) -> HTMLResponse:
    """The rendered template, with the nav, the CSRF token and the visitor."""
    html = environment.get_template(template).render(
        request=request,
        path=request.url.path,
        nav=NAV,
        visitor=who,
        csrf=who.csrf if who else "",
        version=__version__,
        **context,
    )
    response = HTMLResponse(html, status_code=status)
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; "
        "object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    if who is not None and who.new_cookie is not None:
        set_session_cookie(response, who.new_cookie)
    return response


def error_page(request: Request, who: Visitor | None, exc: errors.BerthError) -> HTMLResponse:
    status, _ = status_of(exc)
    context = {"title": "Something went wrong", "status": status, "message": exc.message}
    return page(request, who, "error.html", context, status)


Build = Callable[[Visitor], Awaitable[Response]]


async def shown(request: Request, scope: Scope, build: Build) -> Response:
    """A page for a visitor holding ``scope``; Berth's errors become error pages."""
    who = await _visitor_or_error(request, scope)
    if not isinstance(who, Visitor):
        return who
    try:
        return await build(who)
    except errors.BerthError as exc:
        return error_page(request, who, exc)


async def acted(request: Request, scope: Scope, act: Build) -> Response:
    """A form's action: its CSRF token checked first, then as :func:`shown`."""
    try:
        await check_form(request)
    except errors.BerthError as exc:
        return error_page(request, None, exc)
    return await shown(request, scope, act)


async def _visitor_or_error(request: Request, scope: Scope) -> Visitor | Response:
    try:
        return await visitor(request, scope)
    except errors.BerthError as exc:
        return error_page(request, None, exc)
