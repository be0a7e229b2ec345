"""A realtime response: the reply streamed from the chat model, spoken sentence by sentence.

:class:`Responder` runs one :class:`ActiveResponse` on the session's models: the
conversation goes to the chat model as it streams, and each finished sentence goes to the
speech model while the next one is generated; its audio leaves in ``response.output_audio``
deltas of ``AUDIO_CHUNK_MS``. A cancelled response keeps, in its item, only the sentences
whose audio was sent.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, cast

from berth import errors
from berth.callreader import CallArguments, CallReader, CallStart, Content
from berth.realtime import codecs
from berth.realtime.config import SessionConfig
from berth.realtime.conversation import Conversation, Item
from berth.realtime.events import Send, error_event, event, server_id
from berth.realtime.retrieval import Retrieval, Retrieved, turn_of, written
from berth.tasks.calls import ModelCalls
from berth.tasks.generate import (
    GENERATE,
    Generation,
    GenerationRequest,
    TextDelta,
)
from berth.tasks.speak import SPEAK, SpeechRequest
from berth.tooluse import ToolPlan

NO_TOOLS = ToolPlan((), None, "text")
"""The plan of a session without tools: the reply is text."""
AUDIO_CHUNK_MS = 100
"""How much audio one ``response.output_audio.delta`` carries."""
SENTENCE_END = re.compile(r"(?<=[.!?;:\u3002\uff01\uff1f])\s+|\n+")


@dataclass
class Spoken:
    """A sentence of the reply and where its audio ends on the response's audio clock."""

    text: str
    end_ms: int


@dataclass
class ActiveResponse:
    """One response of a session while it runs: its item, what was generated and sent."""

    id: str
    item: Item
    config: SessionConfig
    plan: ToolPlan = NO_TOOLS
    task: asyncio.Task[None] | None = None
    text: list[str] = field(default_factory=list)
    """The reply's text as it was generated."""
    spoken: list[Spoken] = field(default_factory=list)
    """The sentences whose audio went out, in order."""
    sent_ms: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cancel_reason: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    turn_ended: float | None = None
    started: float = field(default_factory=time.monotonic)
    calls: list[Item] = field(default_factory=list)
    """The function calls the reply made (output items after the message, if any)."""
    finish: str | None = None
    """Why the chat model stopped (``length``: ``max_output_tokens`` cut the reply)."""
    retrieved: Retrieved | None = None
    """What retrieval added to the prompt (its citations go into ``response.done``)."""
    remembered: dict[str, Any] | None = None
    """Where the session's memory wrote this turn."""

    @property
    def with_message(self) -> bool:
        """Whether the reply has a message item (not when a call is forced)."""
        return self.plan.reading != "calls"

    def output(self) -> list[Item]:
        """The response's output items, in order."""
        return ([self.item] if self.with_message else []) + self.calls


def sentences(text: str) -> tuple[list[str], str]:
    """The finished sentences at the start of ``text``, and the unfinished rest."""
    pieces = SENTENCE_END.split(text)
    return [piece for piece in pieces[:-1] if piece.strip()], pieces[-1]


class Responder:
    """Runs a session's responses: its models, its conversation and where its events go.

    ``released`` is told a response's final status just before ``response.done`` is sent
    (the session is free for the next response from then on).
    """

    def __init__(
        self,
        models: ModelCalls,
        conversation: Conversation,
        send: Send,
        released: Callable[[str], None],
        *,
        retrieval: Retrieval,
        session_id: str = "",
    ) -> None:
        self._retrieval = retrieval
        self._session_id = session_id
        self._models = models
        self._conversation = conversation
        self._send = send
        self._released = released

    def as_json(self, response: ActiveResponse, status: str) -> dict[str, Any]:
        """``response`` as a ``realtime.response`` in ``status``."""
        done = status not in ("in_progress",)
        body: dict[str, Any] = {
            "id": response.id,
            "object": "realtime.response",
            "status": status,
            "status_details": None,
            "output": [item.as_json() for item in response.output()] if done else [],
            "output_modalities": list(response.config.output_modalities),
            "max_output_tokens": response.config.max_output_tokens or "inf",
            "audio": {
                "output": {
                    "format": response.config.output_format.as_json(),
                    "voice": response.config.voice,
                }
            },
            "usage": None,
            "metadata": None,
        }
        if done and response.timings:
            # Berth's own figures: each stage of the turn, in milliseconds
            body["metadata"] = {f"berth_{k}": f"{v:.1f}" for k, v in response.timings.items()}
        if done:
            body |= self._berth_fields(response)
        if status == "cancelled":
            body["status_details"] = {"type": "cancelled", "reason": response.cancel_reason}
        if status == "incomplete":
            body["status_details"] = {"type": "incomplete", "reason": "max_output_tokens"}
        if done:
            body["usage"] = {
                "input_tokens": response.prompt_tokens,
                "output_tokens": response.completion_tokens,
                "total_tokens": response.prompt_tokens + response.completion_tokens,
                "input_token_details": {
                    "text_tokens": response.prompt_tokens,
                    "audio_tokens": 0,
                    "cached_tokens": 0,
                },
                "output_token_details": {
                    "text_tokens": response.completion_tokens,
                    "audio_tokens": 0,
                },
            }
        return body

    def _berth_fields(self, response: ActiveResponse) -> dict[str, Any]:
        """Berth's additions to a finished response: the retrieved chunks it was given
        (``berth_citations``) and where its turn was remembered (``berth_memory``)."""
        fields: dict[str, Any] = {}
        if response.retrieved is not None:
            cited = response.retrieved.citations(response.item.text)
            if cited is not None:
                fields["berth_citations"] = cited
        if response.remembered is not None:
            fields["berth_memory"] = response.remembered
        return fields

    def _ids(self, response: ActiveResponse) -> dict[str, Any]:
        return {
            "response_id": response.id,
            "item_id": response.item.id,
            "output_index": 0,
            "content_index": 0,
        }

    async def run(self, response: ActiveResponse) -> None:
        """Stream ``response`` to the end (or its cancellation); ``response.done`` last. A
        reply that ``max_output_tokens`` cut (a function call's arguments too) ends
        ``incomplete``, its items with it, as OpenAI's do."""
        status = "completed"
        try:
            if response.with_message:
                await self._open_message(response)
            await self._generate(response)
            if response.finish == "length":
                status = "incomplete"
        except asyncio.CancelledError:
            status = "cancelled"
        except errors.BerthError as exc:
            status = "failed"
            await self._send(error_event(exc.message, kind="server_error", code=type(exc).__name__))
        finally:
            await asyncio.shield(self._finish(response, status))

    async def _open_message(self, response: ActiveResponse) -> None:
        item = response.item
        previous = self._conversation.add(item)
        await self._send(
            event(
                "response.output_item.added",
                response_id=response.id,
                output_index=0,
                item=item.as_json(),
            )
        )
        await self._send(
            event("conversation.item.added", item=item.as_json(), previous_item_id=previous)
        )
        await self._send(
            event(
                "response.content_part.added",
                **self._ids(response),
                part=item.content[0].as_json(),
            )
        )

    async def _generate(self, response: ActiveResponse) -> None:
        config = response.config
        asked = time.monotonic()
        response.retrieved = await self._retrieval.retrieve(
            config, self._conversation.messages(config.instructions)
        )
        if response.retrieved.cite is not None:
            response.timings["retrieve_ms"] = ms_since(asked)
        messages = response.retrieved.messages
        request = GenerationRequest(
            messages=messages,
            max_tokens=config.max_output_tokens,
            temperature=0.8,
            tools=response.plan.tools,
            grammar=response.plan.grammar,
        )
        speaker: asyncio.Queue[str | None] = asyncio.Queue()
        speaking = asyncio.create_task(self._speak(response, speaker)) if config.speaks else None
        try:
            pending = await self._stream_reply(response, request, speaker if speaking else None)
            if speaking is not None:
                if pending.strip():
                    speaker.put_nowait(pending)
                speaker.put_nowait(None)
                await speaking
        finally:
            if speaking is not None and not speaking.done():
                speaking.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await speaking

    async def _stream_reply(
        self,
        response: ActiveResponse,
        request: GenerationRequest,
        speaker: asyncio.Queue[str | None] | None,
    ) -> str:
        """Send the reply's text as it streams, each finished sentence to ``speaker``; the
        unfinished rest."""
        config = response.config
        kind = (
            "response.output_audio_transcript.delta"
            if config.speaks
            else "response.output_text.delta"
        )
        pending = ""
        reader = CallReader(response.plan.reading, response.plan.parallel)
        chunks = cast(
            AsyncIterator[TextDelta | Generation],
            self._models.stream(config.model, GENERATE, request),
        )
        try:
            async for chunk in chunks:
                if isinstance(chunk, Generation):
                    response.prompt_tokens = chunk.prompt_tokens
                    response.completion_tokens = chunk.completion_tokens
                    response.finish = chunk.finish_reason
                    continue
                if not chunk.text:
                    continue
                if "llm_first_token_ms" not in response.timings:
                    response.timings["llm_first_token_ms"] = ms_since(response.started)
                for read in reader.feed(chunk.text):
                    pending = await self._read(response, read, kind, pending, speaker)
            for read in reader.finish():
                pending = await self._read(response, read, kind, pending, speaker)
        finally:
            closing = getattr(chunks, "aclose", None)
            if closing is not None:
                await closing()  # stops the model's work on this reply
        return pending

    async def _read(
        self,
        response: ActiveResponse,
        read: Content | CallStart | CallArguments,
        kind: str,
        pending: str,
        speaker: asyncio.Queue[str | None] | None,
    ) -> str:
        """Send what the reader found: text (each finished sentence to ``speaker``), a call
        started, or a piece of a call's arguments; the unfinished sentence."""
        if isinstance(read, CallStart):
            await self._call_started(response, read)
            return pending
        if isinstance(read, CallArguments):
            call = response.calls[-1]
            call.arguments += read.text
            ids = self._call_ids(response, call)
            delta = event("response.function_call_arguments.delta", **ids, delta=read.text)
            await self._send(delta)
            return pending
        if not read.text:
            return pending
        response.text.append(read.text)
        await self._send(event(kind, **self._ids(response), delta=read.text))
        if speaker is None:
            return pending
        done, pending = sentences(pending + read.text)
        for sentence in done:
            speaker.put_nowait(sentence)
        return pending

    def _call_ids(self, response: ActiveResponse, call: Item) -> dict[str, Any]:
        return {
            "response_id": response.id,
            "item_id": call.id,
            "output_index": response.output().index(call),
            "call_id": call.call_id,
        }

    async def _call_started(self, response: ActiveResponse, read: CallStart) -> None:
        call = Item(
            server_id("item"),
            "assistant",
            type="function_call",
            status="in_progress",
            call_id=read.id,
            name=read.name,
        )
        response.calls.append(call)
        previous = self._conversation.add(call)
        await self._send(
            event(
                "response.output_item.added",
                response_id=response.id,
                output_index=response.output().index(call),
                item=call.as_json(),
            )
        )
        await self._send(
            event("conversation.item.added", item=call.as_json(), previous_item_id=previous)
        )

    async def _close_call(self, response: ActiveResponse, call: Item, status: str) -> None:
        call.status = "completed" if status == "completed" else "incomplete"
        ids = self._call_ids(response, call)
        await self._send(
            event(
                "response.function_call_arguments.done",
                **ids,
                name=call.name,
                arguments=call.arguments,
            )
        )
        await self._send(
            event(
                "response.output_item.done",
                response_id=response.id,
                output_index=ids["output_index"],
                item=call.as_json(),
            )
        )
        await self._send(event("conversation.item.done", item=call.as_json()))

    async def _speak(
        self, response: ActiveResponse, sentences_in: asyncio.Queue[str | None]
    ) -> None:
        config = response.config
        fmt = config.output_format
        chunk_bytes = fmt.rate * fmt.bytes_per_sample * AUDIO_CHUNK_MS // 1000
        while (sentence := await sentences_in.get()) is not None:
            asked = time.monotonic()
            [speech] = await self._models.run(
                config.speech_model, SPEAK, [SpeechRequest(sentence.strip(), config.voice)]
            )
            raw = codecs.encode(speech.samples, speech.sample_rate, fmt)
            if not response.spoken:
                response.timings["tts_first_audio_ms"] = ms_since(asked)
                response.timings["first_audio_ms"] = ms_since(
                    response.turn_ended or response.started
                )
            for start in range(0, len(raw), chunk_bytes):
                piece = raw[start : start + chunk_bytes]
                await self._send(
                    event(
                        "response.output_audio.delta",
                        **self._ids(response),
                        delta=base64.b64encode(piece).decode(),
                    )
                )
                response.sent_ms += codecs.milliseconds(len(piece), fmt)
            response.spoken.append(Spoken(sentence.strip(), response.sent_ms))

    async def _finish(self, response: ActiveResponse, status: str) -> None:
        if response.with_message:
            await self._close_message(response, status)
        for call in response.calls:
            await self._close_call(response, call, status)
        await self._remember(response, status)
        self._released(status)
        await self._send(event("response.done", response=self.as_json(response, status)))

    async def _remember(self, response: ActiveResponse, status: str) -> None:
        """Hand the turn to the session's memory (a reply that failed is not a turn; one
        cancelled, or cut by ``max_output_tokens``, keeps what was sent)."""
        if status not in ("completed", "incomplete", "cancelled") or not response.with_message:
            return
        turn = turn_of(
            self._conversation,
            response.item,
            session_id=self._session_id,
            response_id=response.id,
            status=status,
        )
        if turn is not None:
            attempt = self._retrieval.remember(response.config, turn)
            response.remembered = await written(attempt, self._send)

    async def _close_message(self, response: ActiveResponse, status: str) -> None:
        item, config = response.item, response.config
        part = item.content[0]
        if config.speaks:
            part.text = (
                " ".join(s.text for s in response.spoken)
                if status == "cancelled"
                else "".join(response.text).strip()
            )
        else:
            part.text = "".join(response.text).strip()
        item.status = "completed" if status == "completed" else "incomplete"
        item.spoken = [(s.text, s.end_ms) for s in response.spoken]
        ids = self._ids(response)
        if config.speaks:
            await self._send(event("response.output_audio.done", **ids))
            await self._send(
                event("response.output_audio_transcript.done", **ids, transcript=part.text)
            )
        else:
            await self._send(event("response.output_text.done", **ids, text=part.text))
        await self._send(event("response.content_part.done", **ids, part=part.as_json()))
        await self._send(
            event(
                "response.output_item.done",
                response_id=response.id,
                output_index=0,
                item=item.as_json(),
            )
        )
        await self._send(event("conversation.item.done", item=item.as_json()))


def ms_since(start: float) -> float:
    """Milliseconds since the monotonic time ``start``."""
    return (time.monotonic() - start) * 1000
