"""Browser sessions of the web UI: a signed, HTTP-only cookie, and the CSRF token tied to it.

The cookie holds ``<payload>.<mac>``: the payload names the API key the person logged in with
(or none, for an anonymous loopback visitor), a random nonce and an expiry; the mac is an
HMAC-SHA256 of the payload under a secret kept in ``BERTH_HOME/ui-secret`` (made on first use,
readable by its owner only). The key is looked up again on every request, so revoking it ends
its sessions at once.

A request that a cookie authenticates and that changes something (any method but GET, HEAD
and OPTIONS) must also carry the session's CSRF token, in the ``X-CSRF-Token`` header or a
``csrf_token`` form field: a page of another site can make the browser send the cookie, but it
cannot read the token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from fastapi import Request
from starlette.requests import HTTPConnection

from berth import errors
from berth.keys.key import ApiKey
from berth.services.keys import KeyService

COOKIE = "berth_session"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LIFETIME_SECONDS = 12 * 3600
SECRET_FILE = "ui-secret"


@dataclass(frozen=True, slots=True)
class Session:
    """What a valid cookie says."""

    key_id: str | None
    """The API key logged in with; None for an anonymous loopback visitor."""
    nonce: str
    expires: float


class SessionSigner:
    """Makes and checks session cookies and CSRF tokens with one secret."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    @classmethod
    def for_home(cls, home: Path) -> SessionSigner:
        """The signer whose secret is ``home/ui-secret``, made now if missing."""
        path = home / SECRET_FILE
        if not path.exists():
            home.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass
            else:
                with os.fdopen(fd, "w") as out:
                    out.write(secrets.token_hex(32))
        return cls(bytes.fromhex(path.read_text().strip()))

    def _mac(self, purpose: str, data: str) -> str:
        message = f"{purpose}:{data}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def issue(self, key_id: str | None, now: float | None = None) -> str:
        """A new cookie value for ``key_id`` (None: anonymous)."""
        expires = (now if now is not None else time.time()) + LIFETIME_SECONDS
        body = {"k": key_id, "n": secrets.token_urlsafe(16), "e": expires}
        payload = base64.urlsafe_b64encode(json.dumps(body).encode()).decode().rstrip("=")
        return f"{payload}.{self._mac('session', payload)}"

    def read(self, value: str | None, now: float | None = None) -> Session | None:
        """The session a cookie value holds; None if it is absent, forged or expired."""
        if not value or value.count(".") != 1:
            return None
        payload, mac = value.split(".")
        if not hmac.compare_digest(mac, self._mac("session", payload)):
            return None
        try:
            body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
            session = Session(body["k"], str(body["n"]), float(body["e"]))
        except (ValueError, KeyError, TypeError):
            return None
        if session.expires < (now if now is not None else time.time()):
            return None
        return session

    def csrf_token(self, session: Session) -> str:
        """The token forms and scripts of this session send back."""
        return self._mac("csrf", session.nonce)

    def check_csrf(self, session: Session, token: str | None) -> None:
        """Raise PermissionDenied (403) unless ``token`` is this session's CSRF token."""
        if not token or not hmac.compare_digest(token, self.csrf_token(session)):
            raise errors.PermissionDenied(
                "The CSRF token is missing or wrong. Reload the page and try again."
            )


def signer(request: HTTPConnection) -> SessionSigner | None:
    """The app's session signer; None when the web UI is not installed."""
    found: SessionSigner | None = getattr(request.app.state, "sessions", None)
    return found


def session_of(request: HTTPConnection) -> Session | None:
    """The valid session the request's cookie holds, if any."""
    sessions = signer(request)
    if sessions is None:
        return None
    return sessions.read(request.cookies.get(COOKIE))


async def session_key(keys: KeyService, session: Session) -> ApiKey:
    """The key a logged-in session stands for; NotAuthenticated once it is revoked or gone."""
    assert session.key_id is not None
    try:
        key = await keys.store.get(session.key_id)
    except errors.UnknownApiKey:
        key = None
    if key is None or key.revoked:
        raise errors.NotAuthenticated("Your session's API key was revoked. Log in again.")
    return key


def check_unsafe(request: Request, session: Session) -> None:
    """For a cookie-authenticated request that changes state: the CSRF header must match."""
    sessions = signer(request)
    if sessions is None or request.method in SAFE_METHODS:
        return
    if getattr(request.state, "csrf_checked", False):
        return  # a web UI form, whose token was checked from its fields
    sessions.check_csrf(session, request.headers.get(CSRF_HEADER))
