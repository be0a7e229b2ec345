"""The API key record, its scopes, and parsing what people write for them."""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass

from berth import errors

KEY_ID_PREFIX = "key_"
SECRET_PREFIX = "berth_"
MAX_RATE_PER_MINUTE = 1_000_000
MAX_JOBS = 1_000_000
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
RATE_PATTERN = re.compile(r"\s*(\d+)\s*/\s*(m|min|minute)\s*")


class Scope(enum.StrEnum):
    """What a key may reach. A key holds each scope it needs; none implies another."""

    INFER = "infer"
    """The OpenAI-compatible endpoints (``/v1/embeddings``, ``/v1/chat/completions``, ...)."""
    JOBS = "jobs"
    """``/v1/jobs`` and everything under it."""
    ADMIN = "admin"
    """Administration: models, every key's jobs, and listing keys."""
    METRICS = "metrics"
    """``/metrics`` where BERTH_METRICS_REQUIRE_KEY asks for a key (admin keys may too)."""


@dataclass(frozen=True, slots=True)
class ApiKey:
    """One API key as stored: the secret itself is never kept, only its sha256."""

    id: str
    name: str
    prefix: str
    """The secret's first characters, shown to tell keys apart; too short to guess the rest."""
    secret_hash: str
    scopes: frozenset[Scope]
    created_at: float
    models: tuple[str, ...] | None = None
    """The model aliases the key may use; None allows every model."""
    rate_per_minute: int | None = None
    """Requests allowed in any 60-second window; None is unlimited."""
    max_jobs: int | None = None
    """Jobs the key may have queued or running at once; None is unlimited."""
    last_used_at: float | None = None
    revoked_at: float | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


def parse_scopes(values: Iterable[str]) -> frozenset[Scope]:
    """Scopes from names such as ``["infer", "jobs"]``; commas inside an item also split."""
    names = [part.strip() for value in values for part in value.split(",") if part.strip()]
    known = ", ".join(scope.value for scope in Scope)
    if not names:
        raise errors.InvalidRequest(f"A key needs at least one scope: {known}.")
    scopes = set()
    for name in names:
        try:
            scopes.add(Scope(name.lower()))
        except ValueError:
            raise errors.InvalidRequest(
                f"Unknown scope '{name}'. Use one or more of {known}, comma-separated."
            ) from None
    return frozenset(scopes)


def parse_models(values: Iterable[str] | None) -> tuple[str, ...] | None:
    """A model allowlist from aliases (commas inside an item also split); None allows all."""
    if values is None:
        return None
    aliases = [part.strip() for value in values for part in value.split(",")]
    if not aliases or any(not alias for alias in aliases):
        raise errors.InvalidRequest(
            "The model list has an empty entry. Name model aliases separated by commas, "
            "e.g. --models qwen3-0.6b,all-minilm-l6-v2."
        )
    return tuple(dict.fromkeys(aliases))


def parse_rate(text: str | None) -> int | None:
    """Requests per minute from ``"60/min"`` (or ``"60/minute"``); None means unlimited."""
    if text is None:
        return None
    match = RATE_PATTERN.fullmatch(text)
    if match is None:
        raise errors.InvalidRequest(
            f"The rate '{text}' is not a rate. Write requests per minute as N/min, e.g. 60/min."
        )
    return check_limit("The rate", int(match.group(1)), MAX_RATE_PER_MINUTE)


def check_limit(what: str, value: int | None, highest: int) -> int | None:
    """``value`` if it is None or between 1 and ``highest``."""
    if value is not None and not 1 <= value <= highest:
        raise errors.InvalidRequest(f"{what} must be between 1 and {highest}, not {value}.")
    return value


def check_name(name: str) -> str:
    """A key's name: 1 to 100 letters, digits, dots, dashes or underscores."""
    if NAME_PATTERN.fullmatch(name) is None:
        raise errors.InvalidRequest(
            f"The key name '{name}' is not allowed. Use 1 to 100 letters, digits, '.', '-' "
            "or '_', starting with a letter or digit."
        )
    return name
