"""Who is looking at a page: the API's rule (keys, scopes, loopback) applied to browsers.

A page asks :func:`visitor` for the caller. Without a valid session, a loopback visitor (when
keys are not required) gets an anonymous session so that its forms have a CSRF token; anyone
else is sent to the login page. Forms post their token in a ``csrf_token`` field, checked by
:func:`check_form` before the action runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from berth import errors
from berth.http.auth import bearer, is_loopback, require
from berth.http.runtime import services
from berth.http.session import COOKIE, CSRF_FIELD, LIFETIME_SECONDS, Session, signer
from berth.keys.key import ApiKey, Scope


@dataclass(frozen=True)
class Visitor:
    """The caller of a page: its key (None: anonymous loopback) and its session."""

    key: ApiKey | None
    session: Session
    csrf: str
    new_cookie: str | None = None
    """A session cookie to set with the response (a new anonymous visitor)."""

    def scopes(self) -> frozenset[Scope]:
        return frozenset(Scope) if self.key is None else self.key.scopes


def set_session_cookie(response: Response, value: str) -> None:
    """The cookie a session travels in: HTTP-only, same-site only, for the whole site."""
    response.set_cookie(
        COOKIE, value, max_age=LIFETIME_SECONDS, httponly=True, samesite="strict", path="/"
    )


def login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)


def anonymous_allowed(request: Request) -> bool:
    host = request.client.host if request.client else None
    return not services(request).settings.require_keys and is_loopback(host)


async def visitor(request: Request, scope: Scope) -> Visitor | Response:
    """The visitor, or a response to send instead: the login page, or 403 for a missing scope."""
    sessions = signer(request)
    assert sessions is not None, "the web UI is not installed"
    session = sessions.read(request.cookies.get(COOKIE))
    new_cookie = None
    if session is None:
        if not anonymous_allowed(request):
            return login_redirect(request)
        new_cookie = sessions.issue(None)
        session = sessions.read(new_cookie)
        assert session is not None
    elif session.key_id is None and not anonymous_allowed(request):
        return login_redirect(request)
    try:
        key = await require(scope)(request, await bearer(request)) if new_cookie is None else None
    except errors.NotAuthenticated:
        return login_redirect(request)
    return Visitor(key, session, sessions.csrf_token(session), new_cookie)


async def check_form(request: Request) -> None:
    """Refuse (403) a form whose ``csrf_token`` is not its session's token."""
    sessions = signer(request)
    assert sessions is not None, "the web UI is not installed"
    session = sessions.read(request.cookies.get(COOKIE))
    if session is None:
        raise errors.PermissionDenied(
            "This form has no session behind it (it may have expired). Reload the page."
        )
    form = await request.form()
    token = form.get(CSRF_FIELD)
    sessions.check_csrf(session, token if isinstance(token, str) else None)
    request.state.csrf_checked = True
