"""One realtime session: client events in, server events out, responses on the pool's models.

A session is transport-free: :meth:`RealtimeSession.handle` takes one client event (a dict)
and everything it says goes out through ``send``. A response runs as its own task, so audio
keeps arriving while the assistant speaks: when server VAD hears the user start again
(barge-in), the response is cancelled at once and its item keeps only the part of the reply
whose audio was already sent.

The pipeline of a turn: the committed audio is transcribed (the speech-to-text model), then
a response (:mod:`berth.realtime.responses`) streams the reply and speaks it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from berth import errors
from berth.realtime import codecs
from berth.realtime.config import SessionConfig, updated
from berth.realtime.conversation import Conversation, Item, Part, item_from_event
from berth.realtime.events import BadEvent, Send, error_event, event, server_id
from berth.realtime.responses import ActiveResponse, Responder, ms_since
from berth.realtime.retrieval import NoRetrieval, Retrieval, turn_of, written
from berth.realtime.tools import tool_plan
from berth.realtime.turns import SpeechStarted, SpeechStopped, TurnDetector
from berth.tasks.calls import ModelCalls
from berth.tasks.transcribe import TRANSCRIBE, Samples, TranscriptionRequest
from berth.tasks.vad import VAD, SpeechSpans, VadRequest

log = logging.getLogger("berth.realtime")

Admit = Callable[[], Awaitable[None]]
"""Counts one response against the caller's rate (raises RateLimited past it)."""

MIN_COMMIT_MS = 100
"""The shortest buffer a commit takes, as OpenAI's API requires."""


class RealtimeSession:
    """The state of one connection: its settings, conversation, input buffer and response."""

    def __init__(
        self,
        config: SessionConfig,
        models: ModelCalls,
        send: Send,
        *,
        admit: Admit | None = None,
        check: Callable[[SessionConfig], Awaitable[None]] | None = None,
        on_response: Callable[[str], None] | None = None,
        retrieval: Retrieval | None = None,
        session_id: str | None = None,
    ) -> None:
        self.id = session_id or server_id("sess")
        self.config = config
        self.models = models
        self._send = send
        self._admit = admit
        self._check = check
        self._on_response = on_response
        self._lock = asyncio.Lock()
        self.conversation = Conversation()
        self.turns = TurnDetector(self._find_speech, config.input_format.rate)
        self.retrieval = retrieval or NoRetrieval()
        self.response: ActiveResponse | None = None
        self.responder = Responder(
            models,
            self.conversation,
            self.send,
            self._released,
            retrieval=self.retrieval,
            session_id=self.id,
        )
        self.responses = 0
        self._pending_item: str | None = None
        self._timings: dict[str, float] = {}
        """How long the stages of the turn being answered took (ms), for response.done."""
        self._turn_ended: float | None = None
        """When server VAD found the end of the turn being answered (monotonic)."""

    async def send(self, message: dict[str, Any]) -> None:
        async with self._lock:
            await self._send(message)

    async def start(self) -> None:
        await self.send(event("session.created", session=self.config.as_json(self.id)))
        await self.send(
            event(
                "conversation.created",
                conversation={"id": server_id("conv"), "object": "realtime.conversation"},
            )
        )

    async def close(self) -> None:
        """Stop the response that is running (the client went away)."""
        if self.response is not None and self.response.task is not None:
            self.response.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.response.task

    # client events

    async def handle(self, message: object) -> None:
        """Apply one client event; a bad one is answered with an ``error`` event."""
        client_event_id = message.get("event_id") if isinstance(message, dict) else None
        try:
            if not isinstance(message, dict) or not isinstance(message.get("type"), str):
                raise BadEvent("A client event is a JSON object with a 'type'.", "type")
            handler = self.HANDLERS.get(message["type"])
            if handler is None:
                known = ", ".join(sorted(self.HANDLERS))
                raise BadEvent(
                    f"Unknown event type {message['type']!r}. Client events: {known}.",
                    "type",
                    "invalid_event",
                )
            await handler(self, message)
        except BadEvent as exc:
            await self.send(
                error_event(
                    exc.message,
                    code=exc.code,
                    param=exc.param,
                    client_event_id=_str(client_event_id),
                )
            )
        except errors.BerthError as exc:
            await self.send(
                error_event(
                    exc.message,
                    kind="server_error"
                    if isinstance(exc, errors.ModelError)
                    else "invalid_request_error",
                    code=type(exc).__name__,
                    client_event_id=_str(client_event_id),
                )
            )

    async def _session_update(self, message: dict[str, Any]) -> None:
        config = updated(self.config, message.get("session"))
        if self._check is not None:
            await self._check(config)
        if config.input_format.rate != self.turns.rate:
            self.turns = TurnDetector(self._find_speech, config.input_format.rate)
        self.config = config
        await self.send(event("session.updated", session=config.as_json(self.id)))

    async def _append(self, message: dict[str, Any]) -> None:
        audio = message.get("audio")
        if not isinstance(audio, str):
            raise BadEvent("audio must be base64-encoded audio.", "audio")
        self.turns.append(codecs.decode_wire(audio, self.config.input_format))
        turns = self.config.turn_detection
        if turns is None:
            return
        checked = time.monotonic()
        found_turns = await self.turns.detect(turns)
        for found in found_turns:
            if isinstance(found, SpeechStopped):
                self._timings = {"vad_ms": ms_since(checked)}
                self._turn_ended = checked
        for found in found_turns:
            if isinstance(found, SpeechStarted):
                await self._speech_started(found)
            else:
                await self._speech_stopped(found)

    async def _speech_started(self, found: SpeechStarted) -> None:
        await self.send(
            event(
                "input_audio_buffer.speech_started",
                audio_start_ms=found.audio_start_ms,
                item_id=self._next_user_item,
            )
        )
        turns = self.config.turn_detection
        if self.response is not None and turns is not None and turns.interrupt_response:
            await self._cancel("turn_detected")  # barge-in

    @property
    def _next_user_item(self) -> str:
        """The id the user item of the turn being spoken will have (speech events name it)."""
        if self._pending_item is None:
            self._pending_item = server_id("item")
        return self._pending_item

    def _take_pending_item(self) -> str:
        item_id, self._pending_item = self._next_user_item, None
        return item_id

    async def _speech_stopped(self, found: SpeechStopped) -> None:
        item_id = self._next_user_item
        await self.send(
            event(
                "input_audio_buffer.speech_stopped",
                audio_end_ms=found.audio_end_ms,
                item_id=item_id,
            )
        )
        await self._commit(found.audio)
        turns = self.config.turn_detection
        if turns is not None and turns.create_response:
            await self._respond(self.config)

    async def _commit_event(self, message: dict[str, Any]) -> None:
        if self.turns.buffered_ms < MIN_COMMIT_MS:
            raise BadEvent(
                f"The input audio buffer holds {self.turns.buffered_ms} ms; a commit needs at "
                f"least {MIN_COMMIT_MS} ms. Append more audio first.",
                None,
                "input_audio_buffer_commit_empty",
            )
        await self._commit(self.turns.take_speech())

    async def _commit(self, audio: Samples) -> None:
        item = Item(self._take_pending_item(), "user", [Part("input_audio")])
        previous = self.conversation.add(item)
        await self.send(
            event("input_audio_buffer.committed", item_id=item.id, previous_item_id=previous)
        )
        await self.send(
            event("conversation.item.added", item=item.as_json(), previous_item_id=previous)
        )
        await self._transcribe(item, 0, audio)
        await self.send(event("conversation.item.done", item=item.as_json()))

    async def _transcribe(self, item: Item, index: int, audio: Samples) -> None:
        request = TranscriptionRequest(audio, self.config.transcription_language)
        started = time.monotonic()
        try:
            [transcript] = await self.models.run(
                self.config.transcription_model, TRANSCRIBE, [request]
            )
        except errors.BerthError as exc:
            item.content[index].text = ""
            await self.send(
                event(
                    "conversation.item.input_audio_transcription.failed",
                    item_id=item.id,
                    content_index=index,
                    error={"type": "transcription_error", "code": None, "message": exc.message},
                )
            )
            return
        item.content[index].text = transcript.text.strip()
        self._timings["stt_ms"] = ms_since(started)
        await self.send(
            event(
                "conversation.item.input_audio_transcription.completed",
                item_id=item.id,
                content_index=index,
                transcript=item.content[index].text,
                usage={"type": "duration", "seconds": round(len(audio) / 16000, 3)},
            )
        )

    async def _clear(self, message: dict[str, Any]) -> None:
        self.turns.clear()
        await self.send(event("input_audio_buffer.cleared"))

    async def _item_create(self, message: dict[str, Any]) -> None:
        item = item_from_event(message.get("item"))
        audio_parts = [
            (index, part) for index, part in enumerate(item.content) if part.audio is not None
        ]
        decoded = [
            (
                index,
                codecs.decode(
                    base64.b64encode(part.audio or b"").decode(),
                    self.config.input_format,
                    f"item.content[{index}].audio",
                ),
            )
            for index, part in audio_parts
        ]
        previous = self.conversation.add(item, message.get("previous_item_id"))
        await self.send(
            event("conversation.item.added", item=item.as_json(), previous_item_id=previous)
        )
        for index, samples in decoded:
            if item.content[index].text is None:
                await self._transcribe(item, index, samples)
        await self.send(event("conversation.item.done", item=item.as_json()))

    async def _item_delete(self, message: dict[str, Any]) -> None:
        item_id = message.get("item_id")
        self.conversation.delete(item_id)
        await self.send(event("conversation.item.deleted", item_id=item_id))

    async def _item_retrieve(self, message: dict[str, Any]) -> None:
        item = self.conversation.find(message.get("item_id"))
        await self.send(event("conversation.item.retrieved", item=item.as_json()))

    async def _item_truncate(self, message: dict[str, Any]) -> None:
        item = self.conversation.find(message.get("item_id"))
        index, end_ms = message.get("content_index", 0), message.get("audio_end_ms")
        if item.role != "assistant":
            raise BadEvent("Only an assistant item's audio can be truncated.", "item_id")
        if not isinstance(index, int) or not 0 <= index < len(item.content):
            raise BadEvent(f"content_index {index!r} is not a part of this item.", "content_index")
        if isinstance(end_ms, bool) or not isinstance(end_ms, int) or end_ms < 0:
            raise BadEvent("audio_end_ms must be whole milliseconds, 0 or more.", "audio_end_ms")
        before = item.text
        if item.spoken:
            item.content[index].text = " ".join(
                text for text, sentence_end in item.spoken if sentence_end <= end_ms
            )
        revised = await self._revise(item) if item.text != before else None
        fields = {"berth_memory": revised} if revised is not None else {}
        await self.send(
            event(
                "conversation.item.truncated",
                item_id=item.id,
                content_index=index,
                audio_end_ms=end_ms,
                **fields,
            )
        )

    async def _revise(self, item: Item) -> dict[str, Any] | None:
        """Rewrite the remembered turn of ``item``, whose reply the client cut short."""
        turn = turn_of(
            self.conversation, item, session_id=self.id, response_id="", status="truncated"
        )
        if turn is None:
            return None
        return await written(self.retrieval.revise(self.config, turn), self.send)

    async def _response_create(self, message: dict[str, Any]) -> None:
        spec = message.get("response") or {}
        if not isinstance(spec, dict):
            raise BadEvent("response must be an object.", "response")
        config = self.config
        overrides = {
            key: spec[key]
            for key in (
                "instructions",
                "output_modalities",
                "modalities",
                "max_output_tokens",
                "voice",
                "tools",
                "tool_choice",
            )
            if key in spec
        }
        if overrides:
            config = updated(config, overrides)
        await self._respond(config)

    async def _response_cancel(self, message: dict[str, Any]) -> None:
        if self.response is None:
            raise BadEvent(
                "There is no response in progress to cancel.", None, "response_cancel_not_active"
            )
        await self._cancel("client_cancelled")

    HANDLERS: dict[str, Callable[[RealtimeSession, dict[str, Any]], Awaitable[None]]] = {
        "session.update": _session_update,
        "input_audio_buffer.append": _append,
        "input_audio_buffer.commit": _commit_event,
        "input_audio_buffer.clear": _clear,
        "conversation.item.create": _item_create,
        "conversation.item.delete": _item_delete,
        "conversation.item.retrieve": _item_retrieve,
        "conversation.item.truncate": _item_truncate,
        "response.create": _response_create,
        "response.cancel": _response_cancel,
    }

    # responses

    async def _find_speech(self, request: VadRequest) -> SpeechSpans:
        [spans] = await self.models.run(self.config.vad_model, VAD, [request])
        return spans

    async def _respond(self, config: SessionConfig) -> None:
        if self.response is not None:
            raise BadEvent(
                "A response is in progress; cancel it or wait for response.done.",
                None,
                "conversation_already_has_active_response",
            )
        plan = tool_plan(config)
        if self._admit is not None:
            await self._admit()
        part = Part("output_audio" if config.speaks else "output_text", "")
        item = Item(server_id("item"), "assistant", [part], status="in_progress")
        response = ActiveResponse(
            server_id("resp"),
            item,
            config,
            plan,
            timings=self._timings,
            turn_ended=self._turn_ended,
        )
        self._timings, self._turn_ended = {}, None
        self.response = response
        self.responses += 1
        await self.send(
            event("response.created", response=self.responder.as_json(response, "in_progress"))
        )
        response.task = asyncio.create_task(self.responder.run(response))

    def _released(self, status: str) -> None:
        self.response = None
        if self._on_response is not None:
            self._on_response(status)

    async def _cancel(self, reason: str) -> None:
        response = self.response
        if response is None or response.task is None:
            return
        response.cancel_reason = reason
        response.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await response.task


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None
