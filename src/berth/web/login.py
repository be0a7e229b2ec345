"""Logging in with an API key, and out.

The login form is itself protected: its page sets a session that grants nothing by itself
(unless the visitor may come in anonymously anyway), whose CSRF token the form sends back.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from berth import errors
from berth.http.runtime import services
from berth.http.session import COOKIE, signer
from berth.web.access import Visitor, check_form, set_session_cookie
from berth.web.render import error_page, page

router = APIRouter(include_in_schema=False)


def _safe_next(target: str | None) -> str:
    """Where to go after logging in: a path on this site only."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _login_page(request: Request, error: str | None = None, status: int = 200) -> Response:
    sessions = signer(request)
    assert sessions is not None
    session = sessions.read(request.cookies.get(COOKIE))
    cookie = None
    if session is None:
        cookie = sessions.issue(None)
        session = sessions.read(cookie)
        assert session is not None
    who = Visitor(None, session, sessions.csrf_token(session), cookie)
    context = {
        "title": "Log in",
        "error": error,
        "next": _safe_next(request.query_params.get("next")),
        "logged_in": session.key_id is not None,
    }
    return page(request, who, "login.html", context, status=status)


@router.get("/login")
async def login_form(request: Request) -> Response:
    return _login_page(request)


@router.post("/login")
async def login(request: Request) -> Response:
    try:
        await check_form(request)
    except errors.BerthError as exc:
        return error_page(request, None, exc)
    form = await request.form()
    secret = form.get("key")
    target = form.get("next")
    try:
        key = await services(request).keys.authenticate(
            secret.strip() if isinstance(secret, str) else ""
        )
    except errors.NotAuthenticated as exc:
        return _login_page(request, exc.message, status=401)
    sessions = signer(request)
    assert sessions is not None
    response = RedirectResponse(_safe_next(target if isinstance(target, str) else None), 303)
    set_session_cookie(response, sessions.issue(key.id))
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    try:
        await check_form(request)
    except errors.BerthError as exc:
        return error_page(request, None, exc)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response
