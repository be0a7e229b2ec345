"""``GET /v1/realtime?model=...``: a WebSocket speaking OpenAI's Realtime event protocol.

The upgrade is authenticated like any request (a key in ``Authorization``, or from a browser
the subprotocol ``openai-insecure-api-key.<key>``; scope ``infer``; the key's model allowlist
and rate apply, and each response counts against the rate again). A refused upgrade gets the
HTTP status and OpenAI-shaped error body a request would get. After that, every client event
is a JSON text frame and every mistake an ``error`` event; the session itself is
:mod:`berth.realtime.session`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse

from berth import errors
from berth.http.auth import WEBSOCKET_KEY_PROTOCOL, websocket_caller
from berth.http.problems import error_body, headers_of, status_of
from berth.keys.key import Scope
from berth.realtime.events import error_event
from berth.services import Services

router = APIRouter(tags=["openai"])
MAX_WAITING_EVENTS = 10_000
"""Client events read but not yet handled (200 s of 20 ms audio chunks) before the session is
closed as flooded."""
log = logging.getLogger("berth.realtime")


async def _refuse(websocket: WebSocket, exc: errors.BerthError) -> None:
    status, kind = status_of(exc)
    response = JSONResponse(
        error_body(exc.message, kind, type(exc).__name__),
        status_code=status,
        headers=headers_of(exc, status),
    )
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(response)
        return
    await websocket.close(code=1008, reason=exc.message[:120])


def _subprotocol(websocket: WebSocket) -> str | None:
    """The subprotocol to answer a browser with (it must hear one it offered)."""
    offered = [p.strip() for p in websocket.headers.get("sec-websocket-protocol", "").split(",")]
    if "realtime" in offered:
        return "realtime"
    return next((p for p in offered if p.startswith(WEBSOCKET_KEY_PROTOCOL)), None)


@router.websocket("/v1/realtime")
async def realtime(websocket: WebSocket, model: str | None = None) -> None:
    """One realtime session on the chat model ``model``."""
    services: Services = websocket.app.state.services
    try:
        caller = await websocket_caller(websocket, Scope.INFER)
        opened = services.realtime.open(caller, model, websocket.send_json)
    except errors.BerthError as exc:
        await _refuse(websocket, exc)
        return
    await websocket.accept(subprotocol=_subprotocol(websocket))
    inbox: asyncio.Queue[str | None] = asyncio.Queue(MAX_WAITING_EVENTS)
    reader = asyncio.create_task(_read(websocket, inbox))
    try:
        async with opened as session:
            while (text := await inbox.get()) is not None:
                try:
                    message: Any = json.loads(text)
                except json.JSONDecodeError as exc:
                    await session.send(
                        error_event(f"A client event must be JSON: {exc}.", code="invalid_json")
                    )
                    continue
                await session.handle(message)
    except (WebSocketDisconnect, RuntimeError) as exc:  # a send after the client went away
        log.debug("realtime session ended: %r", exc)
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader


async def _read(websocket: WebSocket, inbox: asyncio.Queue[str | None]) -> None:
    """Read client events as they arrive, whatever the session is doing (a model still
    loading, a transcription), so the socket's keepalive pings are always answered."""
    try:
        while True:
            text = await websocket.receive_text()
            if inbox.full():
                await websocket.close(
                    code=1008,
                    reason=f"More than {MAX_WAITING_EVENTS} client events wait; send less.",
                )
                break
            inbox.put_nowait(text)
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        with contextlib.suppress(asyncio.QueueFull):
            inbox.put_nowait(None)
