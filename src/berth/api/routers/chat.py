"""``POST /v1/chat/completions`` and ``POST /v1/completions``, streaming or not."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from berth import errors
from berth.api.conversation import chat_messages, tool_plan
from berth.api.replies import (
    ChatDeltas,
    chat_logprobs,
    chat_reply,
    completion_logprobs,
    echoed_logprobs,
)
from berth.api.schemas.openai import (
    ChatChoice,
    ChatChunk,
    ChatChunkChoice,
    ChatRequest,
    ChatResponse,
    CompletionChoice,
    CompletionRequest,
    CompletionResponse,
    Delta,
    GenerationOptions,
    Usage,
)
from berth.api.schemas.tools import ChoiceLogprobs
from berth.api.sse import openai_stream
from berth.http.auth import InferCaller
from berth.http.runtime import ServicesDep
from berth.ids import new_id
from berth.tasks.generate import Generation, GenerationRequest, TextDelta

router = APIRouter(tags=["openai"])


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
    text: Callable[[TextDelta], BaseModel],
    finish: Callable[[str], BaseModel],
    usage: Callable[[Usage], BaseModel] | None,
) -> AsyncIterator[str]:
    """The JSON of each streamed chunk: text pieces, the finish, and (if asked) the usage."""
    async for piece in chunks:
        if isinstance(piece, TextDelta):
            yield text(piece).model_dump_json()
            continue
        yield finish(piece.finish_reason).model_dump_json()
        if usage is not None:
            yield usage(usage_of(piece)).model_dump_json()


@router.post("/v1/chat/completions", response_model=ChatResponse)
async def chat_completions(
    body: ChatRequest, request: Request, key: InferCaller, services: ServicesDep
) -> Any:
    """A chat completion, with tools, structured output and logprobs; with ``stream`` an SSE
    stream of chunks ending in ``[DONE]``."""
    request.state.model = body.model
    plan = tool_plan(body)
    job = generation_request(
        body,
        messages=await chat_messages(body),
        tools=plan.tools,
        grammar=plan.grammar,
        logprobs=(body.top_logprobs or 0) if body.logprobs else None,
    )
    reply_id, created = f"chatcmpl-{new_id()}", int(time.time())
    service = services.inference
    if not body.stream:
        done = await service.generate(key, body.model, job)
        message, finish = chat_reply(plan, done)
        choice = ChatChoice(
            index=0, message=message, finish_reason=finish, logprobs=chat_logprobs(done.logprobs)
        )
        return ChatResponse(
            id=reply_id, created=created, model=body.model, choices=[choice], usage=usage_of(done)
        )
    chunks = await started(service.stream_text(key, body.model, job))
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    shape = ChunkShape(reply_id, created, body.model)
    frames = chat_frames(chunks, ChatDeltas(plan), shape, include_usage)
    return StreamingResponse(openai_stream(frames), media_type="text/event-stream")


@dataclass(frozen=True)
class ChunkShape:
    """What every chunk of one streamed chat answer repeats."""

    id: str
    created: int
    model: str

    def chunk(
        self, delta: Delta, finish: str | None = None, logprobs: ChoiceLogprobs | None = None
    ) -> str:
        choice = ChatChunkChoice(index=0, delta=delta, finish_reason=finish, logprobs=logprobs)
        return self.whole([choice]).model_dump_json()

    def whole(self, choices: list[ChatChunkChoice], usage: Usage | None = None) -> ChatChunk:
        return ChatChunk(
            id=self.id, created=self.created, model=self.model, choices=choices, usage=usage
        )


async def chat_frames(
    chunks: AsyncIterator[TextDelta | Generation],
    deltas: ChatDeltas,
    shape: ChunkShape,
    include_usage: bool,
) -> AsyncIterator[str]:
    """The JSON of each chunk of a streamed chat answer: the role, content or tool-call
    deltas, the finish, and (if asked) the usage."""
    yield shape.chunk(Delta(role="assistant", content=""))
    async for piece in chunks:
        if isinstance(piece, TextDelta):
            for delta, logprobs in deltas.text(piece):
                yield shape.chunk(delta, logprobs=logprobs)
            continue
        last, finish = deltas.finish(piece)
        for delta in last:
            yield shape.chunk(delta)
        yield shape.chunk(Delta(), finish)
        if include_usage:
            yield shape.whole([], usage_of(piece)).model_dump_json()


@router.post("/v1/completions", response_model=CompletionResponse)
async def completions(
    body: CompletionRequest, request: Request, key: InferCaller, services: ServicesDep
) -> Any:
    """A text completion; with ``stream`` an SSE stream of chunks ending in ``[DONE]``."""
    request.state.model = body.model
    prompt = body.prompt if isinstance(body.prompt, str) else body.prompt[0]
    if body.echo and body.stream:
        raise errors.InvalidRequest(
            "echo: Berth echoes the prompt in whole replies only; send echo without stream."
        )
    job = generation_request(body, prompt=prompt, logprobs=body.logprobs, echo=body.echo)
    reply_id, created = f"cmpl-{new_id()}", int(time.time())
    service = services.inference
    if not body.stream:
        done = await service.generate(key, body.model, job)
        choice = CompletionChoice(
            index=0,
            text=prompt + done.text if body.echo else done.text,
            finish_reason=done.finish_reason,
            logprobs=echoed_logprobs(done) if body.echo else completion_logprobs(done.logprobs),
        )
        return CompletionResponse(
            id=reply_id, created=created, model=body.model, choices=[choice], usage=usage_of(done)
        )
    chunks = await started(service.stream_text(key, body.model, job))
    include_usage = bool(body.stream_options and body.stream_options.include_usage)

    offset = 0

    def chunk(text: str, finish: str | None = None, logprobs: Any = None) -> CompletionResponse:
        choice = CompletionChoice(index=0, text=text, finish_reason=finish, logprobs=logprobs)
        return CompletionResponse(id=reply_id, created=created, model=body.model, choices=[choice])

    def piece(delta: TextDelta) -> CompletionResponse:
        nonlocal offset
        shown = completion_logprobs(delta.logprobs, offset) if body.logprobs is not None else None
        offset += len(delta.text)
        return chunk(delta.text, logprobs=shown)

    def usage_chunk(usage: Usage) -> CompletionResponse:
        return CompletionResponse(
            id=reply_id, created=created, model=body.model, choices=[], usage=usage
        )

    frames = generation_frames(
        chunks,
        text=piece,
        finish=lambda reason: chunk("", reason),
        usage=usage_chunk if include_usage else None,
    )
    return StreamingResponse(openai_stream(frames), media_type="text/event-stream")
