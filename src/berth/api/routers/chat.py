"""``POST /v1/chat/completions`` and ``POST /v1/completions``, streaming or not."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from berth import errors
from berth.api.schemas.openai import (
    ChatChoice,
    ChatChunk,
    ChatChunkChoice,
    ChatMessageOut,
    ChatRequest,
    ChatResponse,
    CompletionChoice,
    CompletionRequest,
    CompletionResponse,
    Delta,
    GenerationOptions,
    Message,
    Usage,
)
from berth.api.sse import openai_stream
from berth.http.auth import InferCaller
from berth.http.runtime import ServicesDep
from berth.ids import new_id
from berth.media.images import checked_image
from berth.tasks.generate import ChatMessage, Generation, GenerationRequest, TextDelta

router = APIRouter(tags=["openai"])


def text_of(message: Message) -> str:
    """A message's text (its image parts go to ``images_of``)."""
    if message.content is None or isinstance(message.content, str):
        return message.content or ""
    texts = []
    for part in message.content:
        if part.type == "image_url":
            continue
        if part.type != "text":
            raise errors.InvalidRequest(
                f"Message parts of type '{part.type}' need a model that reads them; "
                "send text parts to this model."
            )
        texts.append(part.text or "")
    return "".join(texts)


async def images_of(message: Message) -> tuple[bytes, ...]:
    """The encoded images of a message's ``image_url`` parts, each checked to decode."""
    if message.content is None or isinstance(message.content, str):
        return ()
    images = []
    for part in message.content:
        if part.type == "image_url":
            url = (part.image_url or {}).get("url")
            if not isinstance(url, str):
                raise errors.InvalidRequest(
                    'An image_url part needs {"image_url": {"url": "data:image/png;base64,..."}}.'
                )
            images.append(await checked_image(url))
    return tuple(images)


def generation_request(body: GenerationOptions, **what: Any) -> GenerationRequest:
    return GenerationRequest(
        max_tokens=body.token_limit(),
        temperature=body.temperature,
        top_p=body.top_p,
        stop=body.stops(),
        seed=body.seed,
        top_k=body.top_k,
        min_p=body.min_p,
        repeat_penalty=body.repeat_penalty,
        **what,
    )


def usage_of(done: Generation) -> Usage:
    return Usage(
        prompt_tokens=done.prompt_tokens,
        completion_tokens=done.completion_tokens,
        total_tokens=done.prompt_tokens + done.completion_tokens,
    )


async def started(
    chunks: AsyncIterator[TextDelta | Generation],
) -> AsyncIterator[TextDelta | Generation]:
    """Pull the first chunk now, so that a failing model answers with an HTTP error status."""
    first = await anext(chunks)

    async def rest() -> AsyncIterator[TextDelta | Generation]:
        yield first
        async for chunk in chunks:
            yield chunk

    return rest()


async def generation_frames(
    chunks: AsyncIterator[TextDelta | Generation],
    *,
    text: Callable[[str], BaseModel],
    finish: Callable[[str], BaseModel],
    usage: Callable[[Usage], BaseModel] | None,
) -> AsyncIterator[str]:
    """The JSON of each streamed chunk: text pieces, the finish, and (if asked) the usage."""
    async for piece in chunks:
        if isinstance(piece, TextDelta):
            yield text(piece.text).model_dump_json()
            continue
        yield finish(piece.finish_reason).model_dump_json()
        if usage is not None:
            yield usage(usage_of(piece)).model_dump_json()


@router.post("/v1/chat/completions", response_model=ChatResponse)
async def chat_completions(
    body: ChatRequest, request: Request, key: InferCaller, services: ServicesDep
) -> Any:
    """A chat completion; with ``stream`` an SSE stream of chunks ending in ``[DONE]``."""
    request.state.model = body.model
    messages = tuple([ChatMessage(m.role, text_of(m), await images_of(m)) for m in body.messages])
    job = generation_request(body, messages=messages)
    reply_id, created = f"chatcmpl-{new_id()}", int(time.time())
    service = services.inference
    if not body.stream:
        done = await service.generate(key, body.model, job)
        choice = ChatChoice(
            index=0, message=ChatMessageOut(content=done.text), finish_reason=done.finish_reason
        )
        return ChatResponse(
            id=reply_id, created=created, model=body.model, choices=[choice], usage=usage_of(done)
        )
    chunks = await started(service.stream_text(key, body.model, job))
    include_usage = bool(body.stream_options and body.stream_options.include_usage)

    def chunk(delta: Delta, finish: str | None = None) -> ChatChunk:
        choice = ChatChunkChoice(index=0, delta=delta, finish_reason=finish)
        return ChatChunk(id=reply_id, created=created, model=body.model, choices=[choice])

    def usage_chunk(usage: Usage) -> ChatChunk:
        return ChatChunk(id=reply_id, created=created, model=body.model, choices=[], usage=usage)

    async def frames() -> AsyncIterator[str]:
        yield chunk(Delta(role="assistant", content="")).model_dump_json()
        pieces = generation_frames(
            chunks,
            text=lambda text: chunk(Delta(content=text)),
            finish=lambda reason: chunk(Delta(), reason),
            usage=usage_chunk if include_usage else None,
        )
        async for frame in pieces:
            yield frame

    return StreamingResponse(openai_stream(frames()), media_type="text/event-stream")


@router.post("/v1/completions", response_model=CompletionResponse)
async def completions(
    body: CompletionRequest, request: Request, key: InferCaller, services: ServicesDep
) -> Any:
    """A text completion; with ``stream`` an SSE stream of chunks ending in ``[DONE]``."""
    request.state.model = body.model
    prompt = body.prompt if isinstance(body.prompt, str) else body.prompt[0]
    job = generation_request(body, prompt=prompt)
    reply_id, created = f"cmpl-{new_id()}", int(time.time())
    service = services.inference
    if not body.stream:
        done = await service.generate(key, body.model, job)
        choice = CompletionChoice(index=0, text=done.text, finish_reason=done.finish_reason)
        return CompletionResponse(
            id=reply_id, created=created, model=body.model, choices=[choice], usage=usage_of(done)
        )
    chunks = await started(service.stream_text(key, body.model, job))
    include_usage = bool(body.stream_options and body.stream_options.include_usage)

    def chunk(text: str, finish: str | None = None) -> CompletionResponse:
        choice = CompletionChoice(index=0, text=text, finish_reason=finish)
        return CompletionResponse(id=reply_id, created=created, model=body.model, choices=[choice])

    def usage_chunk(usage: Usage) -> CompletionResponse:
        return CompletionResponse(
            id=reply_id, created=created, model=body.model, choices=[], usage=usage
        )

    frames = generation_frames(
        chunks,
        text=chunk,
        finish=lambda reason: chunk("", reason),
        usage=usage_chunk if include_usage else None,
    )
    return StreamingResponse(openai_stream(frames), media_type="text/event-stream")
