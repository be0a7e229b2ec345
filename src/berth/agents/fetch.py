"""The ``http_fetch`` tool: GET a URL that starts with one of the allowed prefixes."""

from __future__ import annotations

from typing import Any

import httpx2

from berth import errors
from berth.agents.tool import JsonObject, RetryPolicy, Tool, ToolContext

MAX_BYTES = 1_000_000


def allowed(url: str, prefixes: list[str]) -> bool:
    """Whether ``url`` starts with one of ``prefixes`` (compared after parsing, so
    ``https://good.example.evil.org`` never passes for ``https://good.example``)."""
    try:
        target = httpx2.URL(url)
    except httpx2.InvalidURL:
        return False
    for prefix in prefixes:
        allow = httpx2.URL(prefix)
        same = (target.scheme, target.host, target.port) == (allow.scheme, allow.host, allow.port)
        if same and target.path.startswith(allow.path or "/"):
            return True
    return False


async def fetch(arguments: JsonObject, ctx: ToolContext) -> Any:
    """GET the URL; refuse it unless ``BERTH_TOOL_HTTP_ALLOW`` allows it."""
    url = str(arguments["url"])
    prefixes = list(ctx.settings.tool_http_allow) if ctx.settings is not None else []
    if not allowed(url, prefixes):
        raise errors.GuardrailRefused(
            f"http_fetch may not fetch {url}: it is not under an allowed prefix "
            f"({', '.join(prefixes) or 'none'}). Add one to BERTH_TOOL_HTTP_ALLOW."
        )
    async with httpx2.AsyncClient(follow_redirects=False, timeout=None) as client:
        response = await client.get(url)
    if response.status_code >= 500 or response.status_code == 429:
        raise errors.ToolFailed(
            f"http_fetch: {url} answered {response.status_code}.", retryable=True
        )
    return {
        "status": response.status_code,
        "content_type": response.headers.get("content-type", ""),
        "text": response.content[:MAX_BYTES].decode(errors="replace"),
    }


HTTP_FETCH = Tool(
    name="http_fetch",
    description="Fetch a web page or API response by URL (only allowed URLs).",
    input_schema={
        "type": "object",
        "properties": {"url": {"type": "string", "pattern": "^https?://"}},
        "required": ["url"],
        "additionalProperties": False,
    },
    call=fetch,
    timeout_s=20.0,
    retry=RetryPolicy(attempts=3),
    idempotent=True,
)
