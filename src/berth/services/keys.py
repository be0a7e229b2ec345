"""API keys as callers see them: create, list, revoke, authenticate, and the limits they carry.

A key's secret is ``berth_`` and 43 url-safe characters from :mod:`secrets` (256 bits). Berth
keeps only its sha256 and its first characters (the prefix, to find it and to show it).
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from berth import errors
from berth.clock import Clock, SystemClock
from berth.ids import new_id
from berth.keys.key import (
    KEY_ID_PREFIX,
    MAX_JOBS,
    MAX_RATE_PER_MINUTE,
    SECRET_PREFIX,
    ApiKey,
    Scope,
    check_limit,
    check_name,
    parse_models,
    parse_scopes,
)
from berth.keys.limiter import RequestLimiter
from berth.keys.store import KeyStore

SECRET_BYTES = 32
PREFIX_CHARS = 8
"""Random characters after ``berth_`` kept as the key's prefix."""
TOUCH_EVERY_SECONDS = 60.0
"""``last_used_at`` is written at most this often per key, so a busy key costs no writes."""


def hash_secret(secret: str) -> str:
    """The stored form of a secret: its sha256, in hex."""
    # A fast hash is enough: the secrets are 256 random bits, so nobody can search for a
    # preimage, and a slow KDF (bcrypt, argon2) would only add its delay to every request.
    return hashlib.sha256(secret.encode()).hexdigest()


def prefix_of(secret: str) -> str:
    """The part of a secret that is stored in the clear and used to look the key up."""
    return secret[: len(SECRET_PREFIX) + PREFIX_CHARS]


@dataclass(frozen=True, slots=True)
class CreatedKey:
    """A new key and its secret: the only time the secret exists outside the caller."""

    key: ApiKey
    secret: str


class KeyService:
    """Manages API keys and decides what a key may do; shared by the HTTP API and the CLI."""

    def __init__(
        self,
        store: KeyStore,
        limiter: RequestLimiter,
        *,
        clock: Clock | None = None,
    ) -> None:
        self.store = store
        self.limiter = limiter
        self.clock = clock or SystemClock()

    # -- administration --------------------------------------------------------------------

    async def create(
        self,
        name: str,
        scopes: Iterable[str],
        *,
        models: Iterable[str] | None = None,
        rate_per_minute: int | None = None,
        max_jobs: int | None = None,
    ) -> CreatedKey:
        """Make and store a new key; the returned secret is never shown again."""
        secret = SECRET_PREFIX + secrets.token_urlsafe(SECRET_BYTES)
        key = ApiKey(
            id=new_id(KEY_ID_PREFIX),
            name=check_name(name),
            prefix=prefix_of(secret),
            secret_hash=hash_secret(secret),
            scopes=parse_scopes(scopes),
            created_at=self.clock.now(),
            models=parse_models(models),
            rate_per_minute=check_limit("The rate", rate_per_minute, MAX_RATE_PER_MINUTE),
            max_jobs=check_limit("Max jobs", max_jobs, MAX_JOBS),
        )
        await self.store.add(key)
        return CreatedKey(key, secret)

    async def list_keys(self) -> list[ApiKey]:
        """Every key, revoked ones included, oldest first."""
        return await self.store.list_keys()

    async def find(self, id_or_name: str) -> ApiKey:
        """The key with this id or, failing that, name (the active one before revoked ones)."""
        if id_or_name.startswith(KEY_ID_PREFIX):
            try:
                return await self.store.get(id_or_name)
            except errors.UnknownApiKey:
                pass
        named = [key for key in await self.store.list_keys() if key.name == id_or_name]
        if not named:
            raise errors.UnknownApiKey(
                f"No API key has the id or name '{id_or_name}'. List them with `berth keys ls`."
            )
        active = [key for key in named if not key.revoked]
        return (active or named)[-1]

    async def revoke(self, id_or_name: str) -> tuple[ApiKey, bool]:
        """Revoke the key at once; also say whether this call changed it (False: it was)."""
        key = await self.find(id_or_name)
        if key.revoked:
            return key, False
        return await self.store.revoke(key.id, self.clock.now()), True

    # -- requests --------------------------------------------------------------------------

    async def authenticate(self, secret: str) -> ApiKey:
        """The unrevoked key whose secret this is; raises NotAuthenticated otherwise."""
        digest = hash_secret(secret)
        found = None
        if secret.startswith(SECRET_PREFIX):
            for key in await self.store.with_prefix(prefix_of(secret)):
                if hmac.compare_digest(key.secret_hash, digest):
                    found = key
        if found is None:
            raise errors.NotAuthenticated(
                "The API key is not valid. Check it, or create one with `berth keys create`."
            )
        if found.revoked:
            raise errors.NotAuthenticated(
                f"The API key '{found.name}' was revoked. Create a new one with "
                "`berth keys create`."
            )
        return await self._touched(found)

    async def _touched(self, key: ApiKey) -> ApiKey:
        now = self.clock.now()
        if key.last_used_at is not None and now - key.last_used_at < TOUCH_EVERY_SECONDS:
            return key
        await self.store.touch(key.id, now)
        return dataclasses.replace(key, last_used_at=now)

    async def admit(self, key: ApiKey) -> None:
        """Count one request against the key's rate; raises RateLimited when it is spent."""
        if key.rate_per_minute is None:
            return
        wait = await self.limiter.admit(key.id, key.rate_per_minute)
        if wait is not None:
            raise errors.RateLimited(
                f"API key '{key.name}' is over its rate of {key.rate_per_minute} requests "
                f"per minute. Retry in {wait} s.",
                retry_after=wait,
            )

    @staticmethod
    def check_scope(key: ApiKey, scope: Scope) -> None:
        """Raise PermissionDenied unless the key holds ``scope``."""
        if scope not in key.scopes:
            held = ", ".join(sorted(key.scopes)) or "none"
            raise errors.PermissionDenied(
                f"API key '{key.name}' lacks the '{scope}' scope (it has: {held}). "
                f"Use a key created with --scopes {scope}."
            )

    @staticmethod
    def check_model(key: ApiKey | None, alias: str) -> None:
        """Raise PermissionDenied unless the key (None: no key, all allowed) may use ``alias``."""
        if key is None or key.models is None or alias in key.models:
            return
        allowed = ", ".join(key.models) or "none"
        raise errors.PermissionDenied(
            f"API key '{key.name}' may not use the model '{alias}'; it may use: {allowed}."
        )
