"""Who is calling: API keys in ``Authorization: Bearer``, their scopes, models and rates.

The rule: a request from loopback (127.0.0.0/8, ::1) needs no key unless
``BERTH_REQUIRE_KEYS`` is set; every other request needs one. A Berth key that is sent
(``berth_...``) is always checked, from anywhere: a wrong or revoked key is 401 even on
loopback. On keyless loopback a bearer token that is not shaped like a Berth key is a
placeholder (``api_key="EMPTY"``, ``"none"``, ``"ollama"``: the ``openai`` client refuses to
start without one) and counts as no key. Behind a reverse proxy on the same host every request
looks local, so set ``BERTH_REQUIRE_KEYS=1`` there.

Routes declare what they need with ``Depends(require("jobs"))``; the dependency answers the
:class:`~berth.keys.key.ApiKey` (None for an anonymous loopback caller), counts the request
against the key's rate, and is one object per scope, so FastAPI runs it once per request even
when both the router and the route name it.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated

from fastapi import Depends, Request, WebSocket
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import HTTPConnection

from berth import errors
from berth.http.runtime import services
from berth.http.session import check_unsafe, session_key, session_of
from berth.keys.key import SECRET_PREFIX, ApiKey, Scope
from berth.services import Services
from berth.services.keys import KeyService

bearer = HTTPBearer(
    auto_error=False,
    description="A Berth API key (`berth keys create`); optional from loopback by default.",
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` (a client address) is this machine: 127.0.0.0/8, ::1 or ::ffff:127.x."""
    if host is None:
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _own_origin(request: HTTPConnection) -> str:
    return f"{request.url.scheme}://{request.url.netloc}"


def refuse_cross_site(request: Request) -> None:
    """Refuse a change a browser makes on behalf of another site. Keyless loopback access
    must not let any web page open in a browser on this machine submit or cancel jobs: a
    browser says where a request comes from (``Origin``, ``Sec-Fetch-Site``); programs that
    send neither (the openai client, curl) are not affected."""
    if request.method in SAFE_METHODS:
        return
    site = request.headers.get("sec-fetch-site")
    origin = request.headers.get("origin")
    if site == "cross-site" or (origin is not None and origin != _own_origin(request)):
        raise errors.PermissionDenied(
            f"Cross-site request refused: a page from {origin or 'another site'} cannot change "
            "anything in Berth without an API key. Use Berth's own pages, or send a key."
        )


def _secret(request: Request, credentials: HTTPAuthorizationCredentials | None) -> str | None:
    """The key sent with the request, None if none; a malformed header is refused."""
    if credentials is not None:
        return credentials.credentials.strip()
    if request.headers.get("authorization") is not None:
        raise errors.NotAuthenticated(
            "The Authorization header must be 'Bearer <key>'. Make a key with `berth keys create`."
        )
    return None


class Require:
    """A FastAPI dependency: the caller's key, which must hold ``scope``."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope

    async def __call__(self, request: Request, credentials: Credentials) -> ApiKey | None:
        found = services(request)
        keyless = not found.settings.require_keys and is_loopback(
            request.client.host if request.client else None
        )
        secret = _secret(request, credentials)
        if secret is not None and keyless and not secret.startswith(SECRET_PREFIX):
            secret = None  # a placeholder, not a key: this caller needs none
        session = session_of(request) if secret is None else None
        if session is not None:
            check_unsafe(request, session)  # a cookie is ambient: changes need the CSRF token
        if secret is not None:
            key = await found.keys.authenticate(secret)
        elif session is not None and session.key_id is not None:
            key = await session_key(found.keys, session)
        elif keyless:
            refuse_cross_site(request)
            return None
        else:
            raise errors.NotAuthenticated()
        await found.keys.admit(key)
        KeyService.check_scope(key, self.scope)
        return key


WEBSOCKET_KEY_PROTOCOL = "openai-insecure-api-key."
"""Browsers cannot set headers on a WebSocket: they send the key as a subprotocol."""


def websocket_secret(websocket: WebSocket) -> str | None:
    """The key a WebSocket upgrade carries: ``Authorization: Bearer`` or, from a browser, the
    subprotocol ``openai-insecure-api-key.<key>``."""
    header = websocket.headers.get("authorization")
    if header is not None:
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise errors.NotAuthenticated(
                "The Authorization header must be 'Bearer <key>'. Make a key with "
                "`berth keys create`."
            )
        return secret.strip()
    offered = websocket.headers.get("sec-websocket-protocol", "")
    for protocol in (p.strip() for p in offered.split(",")):
        if protocol.startswith(WEBSOCKET_KEY_PROTOCOL):
            return protocol.removeprefix(WEBSOCKET_KEY_PROTOCOL)
    return None


async def websocket_caller(websocket: WebSocket, scope: Scope) -> ApiKey | None:
    """Who opens ``websocket``, by the same rules as a request: a key, else the UI's session
    (from Berth's own pages only), else keyless loopback (never from another site's page,
    which would otherwise reach this machine through the browser)."""
    found: Services = websocket.app.state.services
    keyless = not found.settings.require_keys and is_loopback(
        websocket.client.host if websocket.client else None
    )
    secret = websocket_secret(websocket)
    if secret is not None and keyless and not secret.startswith(SECRET_PREFIX):
        secret = None
    origin = websocket.headers.get("origin")
    scheme = {"ws": "http", "wss": "https"}.get(websocket.url.scheme, websocket.url.scheme)
    own = origin is None or origin == f"{scheme}://{websocket.url.netloc}"
    session = session_of(websocket) if secret is None and own else None
    if secret is not None:
        key = await found.keys.authenticate(secret)
    elif session is not None and session.key_id is not None:
        key = await session_key(found.keys, session)
    elif keyless:
        if not own:
            raise errors.PermissionDenied(
                f"Cross-site WebSocket refused: a page from {origin} cannot open a realtime "
                "session without an API key. Use Berth's own pages, or send a key."
            )
        return None
    else:
        raise errors.NotAuthenticated()
    await found.keys.admit(key)
    KeyService.check_scope(key, scope)
    return key


_REQUIRED = {scope: Require(scope) for scope in Scope}


def require(scope: Scope | str) -> Require:
    """The dependency for ``scope`` (the same object every time, so it runs once a request)."""
    return _REQUIRED[Scope(scope)]


InferCaller = Annotated[ApiKey | None, Depends(require(Scope.INFER))]
"""The caller of an OpenAI-compatible endpoint (None: anonymous loopback)."""
JobsCaller = Annotated[ApiKey | None, Depends(require(Scope.JOBS))]
AdminCaller = Annotated[ApiKey | None, Depends(require(Scope.ADMIN))]


async def metrics_access(request: Request, credentials: Credentials) -> None:
    """``/metrics`` is open unless BERTH_METRICS_REQUIRE_KEY is set; then it needs a key with
    the ``metrics`` (or ``admin``) scope from anywhere, loopback included."""
    found = services(request)
    if not found.settings.metrics_require_key:
        return
    secret = _secret(request, credentials)
    if secret is None:
        raise errors.NotAuthenticated(
            "/metrics needs an API key here (BERTH_METRICS_REQUIRE_KEY is set). Create one "
            "with `berth keys create --name prometheus --scopes metrics`."
        )
    key = await found.keys.authenticate(secret)
    if not key.scopes & {Scope.METRICS, Scope.ADMIN}:
        KeyService.check_scope(key, Scope.METRICS)
