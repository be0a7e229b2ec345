"""A lean client for streamed completions: raw asyncio sockets, HTTP/1.1, chunked bodies.

The benchmark's client runs on the same cores as the server and the model, so what it spends
per token is taken from them. httpx parses every line of every event (about 0.2 ms a token
here); this client only splits the body into events and reads the one JSON object it needs
(the usage at the end). It speaks just what ``berth serve`` answers: a 200 with a chunked
``text/event-stream`` body.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any
from urllib.parse import urlsplit

_EMPTY_TEXT = b'"text":""'


class StreamError(RuntimeError):
    """The server answered something other than a 200 event stream."""


async def completion(url: str, body: dict[str, Any]) -> tuple[float, float, int]:
    """POST ``body`` to ``url`` (a /v1/completions URL) and read its event stream: seconds to
    the first event with text, seconds to the end, and completion tokens from the usage."""
    parts = urlsplit(url)
    payload = json.dumps(body).encode()
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        writer.write(
            f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
            "Connection: close\r\n\r\n".encode()
            + payload
        )
        head = await reader.readuntil(b"\r\n\r\n")
        status = head.split(b" ", 2)[1]
        if status != b"200" or b"chunked" not in head.lower():
            rest = await reader.read(4096)
            raise StreamError(f"HTTP {status.decode()}: {(head + rest).decode(errors='replace')}")
        first, tokens, pending = 0.0, 0, b""
        while True:
            size = int((await reader.readuntil(b"\r\n"))[:-2], 16)
            if size == 0:
                break
            pending += (await reader.readexactly(size + 2))[:-2]
            *events, pending = pending.split(b"\n\n")
            for event in events:
                if not first and b'"text":"' in event and _EMPTY_TEXT not in event:
                    first = time.perf_counter()
                elif b'"usage":{' in event:
                    tokens = json.loads(event[6:])["usage"]["completion_tokens"]
        return first - started, time.perf_counter() - started, tokens
    finally:
        writer.close()
