"""Realtime sessions for callers: which models a session uses, checked and warmed up.

``GET /v1/realtime?model=...`` asks :meth:`RealtimeService.open` for a session: the chat
model is checked against the catalog, the key's allowlist and its task before the WebSocket
is accepted; the speech-to-text, text-to-speech and VAD models (the settings' defaults, or
what ``session.update`` names) are checked the same way, and loaded in the background at
once, so that no turn after the first waits for a cold load.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from berth import errors, metrics
from berth.keys.key import ApiKey
from berth.realtime.config import SessionConfig
from berth.realtime.events import BadEvent, Send, server_id
from berth.realtime.session import RealtimeSession
from berth.services.inference import InferenceService
from berth.services.keys import KeyService
from berth.services.memory import ConversationMemory
from berth.services.retrieval import SessionRetrieval
from berth.services.vectors import VectorService
from berth.tasks.generate import GENERATE
from berth.tasks.speak import SPEAK
from berth.tasks.task import ModelTask
from berth.tasks.transcribe import TRANSCRIBE
from berth.tasks.vad import VAD

log = logging.getLogger("berth.realtime")


class RealtimeService:
    """Opens realtime sessions on the pool's models."""

    def __init__(
        self,
        inference: InferenceService,
        keys: KeyService,
        *,
        transcription_model: str,
        speech_model: str,
        vad_model: str,
        vectors: VectorService | None = None,
        memory: ConversationMemory | None = None,
    ) -> None:
        self.vectors = vectors
        self.memory = memory
        self.inference = inference
        self.keys = keys
        self.defaults = (transcription_model, speech_model, vad_model)
        self.active = 0
        """Sessions open now (also in /metrics and /readyz)."""

    def _models(self, config: SessionConfig) -> list[tuple[str, str, ModelTask[Any]]]:
        return [
            ("model", config.model, GENERATE),
            ("session.audio.input.transcription.model", config.transcription_model, TRANSCRIBE),
            ("session.audio.output.model", config.speech_model, SPEAK),
            ("vad model (BERTH_REALTIME_VAD_MODEL)", config.vad_model, VAD),
        ]

    def check(self, caller: ApiKey | None, config: SessionConfig) -> None:
        """Raise unless every model of ``config`` exists, may be used by ``caller`` and does
        its part (a bad one named as the field that chose it)."""
        for param, alias, task in self._models(config):
            try:
                self.inference.model(caller, alias, task)
            except (errors.UnknownModel, errors.InvalidRequest) as exc:
                if param == "model":
                    raise
                raise BadEvent(f"{param}: {exc.message}", param, "model_not_found") from exc

    def config(self, caller: ApiKey | None, model: str | None) -> SessionConfig:
        """A new session's settings for the chat model ``model``, checked."""
        if not model:
            raise errors.InvalidRequest(
                "Name the chat model: connect to /v1/realtime?model=ALIAS (see GET /v1/models)."
            )
        transcription, speech, vad = self.defaults
        config = SessionConfig(
            model=model, transcription_model=transcription, speech_model=speech, vad_model=vad
        )
        self.inference.model(caller, model, GENERATE)
        return config

    async def warm(self, caller: ApiKey | None, config: SessionConfig) -> None:
        """Load the session's models (one after another; a failure is logged, and the turn
        that needs that model reports it)."""
        for _, alias, task in self._models(config):
            try:
                await self.inference.prepare(caller, alias, task)
            except errors.BerthError as exc:
                log.warning("realtime: could not load %s: %s", alias, exc.message)

    def open(self, caller: ApiKey | None, model: str | None, send: Send) -> Session:
        """A session for ``caller`` on ``model`` (raises before the WebSocket is accepted)."""
        return Session(self, caller, self.config(caller, model), send)


class Session:
    """A :class:`RealtimeSession` with its caller's rules and its models kept warm."""

    def __init__(
        self, service: RealtimeService, caller: ApiKey | None, config: SessionConfig, send: Send
    ) -> None:
        self.service = service
        self.caller = caller
        session_id = server_id("sess")
        self.retrieval = SessionRetrieval(caller, session_id, service.vectors, service.memory)
        self.core = RealtimeSession(
            config,
            service.inference.calls(caller),
            send,
            admit=self._admit,
            check=self._check,
            on_response=lambda status: metrics.realtime_responses.labels(status).inc(),
            retrieval=self.retrieval,
            session_id=session_id,
        )
        self._warming: asyncio.Task[None] | None = None

    async def _admit(self) -> None:
        if self.caller is not None:
            await self.service.keys.admit(self.caller)

    async def _check(self, config: SessionConfig) -> None:
        self.service.check(self.caller, config)
        await self.retrieval.check(config)
        if config != self.core.config:
            self._warm(config)

    def _warm(self, config: SessionConfig) -> None:
        if self._warming is not None and not self._warming.done():
            self._warming.cancel()
        self._warming = asyncio.create_task(self.service.warm(self.caller, config))

    async def __aenter__(self) -> RealtimeSession:
        self.service.active += 1
        metrics.realtime_sessions.inc()
        metrics.realtime_sessions_opened.inc()
        self._warm(self.core.config)
        await self.core.start()
        return self.core

    async def __aexit__(self, *exc: object) -> None:
        self.service.active -= 1
        metrics.realtime_sessions.dec()
        await self.core.close()
        if self._warming is not None:
            self._warming.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._warming
