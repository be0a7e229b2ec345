"""Server events as the Realtime protocol shapes them, and the error a bad client event gets."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from berth import errors
from berth.ids import new_id

Send = Callable[[dict[str, Any]], Awaitable[None]]
"""Where a session's server events go."""


class BadEvent(errors.InvalidRequest):
    """A client event Berth cannot apply; sent back as an ``error`` event naming ``param``."""

    def __init__(self, message: str, param: str | None = None, code: str = "invalid_value"):
        super().__init__(message)
        self.param = param
        self.code = code


def server_id(prefix: str) -> str:
    """A fresh id as the protocol spells them (``event_...``, ``item_...``, ``resp_...``)."""
    return f"{prefix}_{new_id()}"


def event(kind: str, **fields: Any) -> dict[str, Any]:
    """One server event of type ``kind``."""
    return {"type": kind, "event_id": server_id("event"), **fields}


def error_event(
    message: str,
    *,
    kind: str = "invalid_request_error",
    code: str | None = None,
    param: str | None = None,
    client_event_id: str | None = None,
) -> dict[str, Any]:
    return event(
        "error",
        error={
            "type": kind,
            "code": code,
            "message": message,
            "param": param,
            "event_id": client_event_id,
        },
    )
