"""ASGI middleware that counts and times every request by route template and model."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from berth import metrics


class RequestMetrics:
    """Records ``berth_http_requests_total`` and ``berth_http_request_seconds``.

    Routers name the model a request used with ``request.state.model = alias``.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def tracking_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            model = str(scope.get("state", {}).get("model", ""))
            elapsed = time.perf_counter() - started
            metrics.http_requests.labels(route, scope["method"], str(status), model).inc()
            metrics.http_latency.labels(route, model).observe(elapsed)
