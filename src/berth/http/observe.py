"""ASGI middleware that counts and times every request by route template and model."""

from __future__ import annotations

import time

from opentelemetry.trace import SpanKind
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from berth import metrics, tracing


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


class RequestTracing:
    """One span per request (``HTTP GET /v1/jobs/{job_id}``), continuing a caller's
    ``traceparent`` header; the response carries the trace id in ``X-Trace-Id``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        traceparent = next(
            (value.decode("latin-1") for key, value in scope["headers"] if key == b"traceparent"),
            None,
        )
        if traceparent is None and not tracing.recording():
            # No span would be recorded and no caller's trace is carried on: skip the work.
            await self.app(scope, receive, send)
            return
        parent = tracing.context_from(traceparent)
        with tracing.tracer().start_as_current_span(
            f"HTTP {scope['method']}", context=parent, kind=SpanKind.SERVER
        ) as span:
            trace_id = tracing.current_trace_id()

            async def traced_send(message: Message) -> None:
                if message["type"] == "http.response.start":
                    span.set_attribute("http.response.status_code", message["status"])
                    if trace_id:
                        extra = [(b"x-trace-id", trace_id.encode())]
                        message = {**message, "headers": [*message.get("headers", []), *extra]}
                await send(message)

            try:
                await self.app(scope, receive, traced_send)
            finally:
                route = getattr(scope.get("route"), "path", "unmatched")
                span.update_name(f"HTTP {scope['method']} {route}")
                span.set_attribute("http.route", route)
                model = scope.get("state", {}).get("model")
                if model:
                    span.set_attribute("berth.model", str(model))
