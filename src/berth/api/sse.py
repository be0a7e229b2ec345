"""Server-sent events: a job's events as a resumable stream."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from berth import errors
from berth.api.schemas.jobs import JobEventOut
from berth.keys.key import ApiKey
from berth.services.jobs import JobService

KEEPALIVE_SECONDS = 15.0
POLL_SECONDS = 0.2


def frame(event: JobEventOut) -> str:
    """One SSE frame; its id is the event's sequence number, so clients resume with it."""
    return f"id: {event.id}\nevent: {event.type}\ndata: {event.model_dump_json()}\n\n"


async def job_events(
    jobs: JobService, caller: ApiKey | None, job_id: str, after: int
) -> AsyncIterator[str]:
    """Every event after ``after``, then new ones as they happen, until the job ends."""
    seen = after
    quiet = 0.0
    while True:
        events = await jobs.events(caller, job_id, after=seen)
        for event in events:
            seen = event.seq
            yield frame(JobEventOut.of(event))
        if events:
            quiet = 0.0
        job = await jobs.get(caller, job_id)
        if job.status.terminal and job.last_event <= seen:
            return
        await asyncio.sleep(POLL_SECONDS)
        quiet += POLL_SECONDS
        if quiet >= KEEPALIVE_SECONDS:
            quiet = 0.0
            yield ": keep-alive\n\n"


async def openai_stream(frames: AsyncIterator[str]) -> AsyncIterator[str]:
    """OpenAI's streaming framing: ``data: <json>`` per chunk, then ``data: [DONE]``.

    An error after the stream started cannot change the status any more; it is sent as a
    last ``data: {"error": ...}`` frame, the way OpenAI's own API does.
    """
    try:
        async for payload in frames:
            yield f"data: {payload}\n\n"
    except errors.BerthError as exc:
        body = {
            "error": {"message": exc.message, "type": "server_error", "param": None, "code": None}
        }
        yield f"data: {json.dumps(body)}\n\n"
        return
    yield "data: [DONE]\n\n"
