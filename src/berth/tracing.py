"""Tracing with OpenTelemetry: off by default, an OTLP exporter when ``BERTH_TRACING`` is on.

Code always asks :func:`tracer` for spans; until :func:`configure` installs a provider those
spans are non-recording and cost almost nothing. A job joins the trace of the span that
submitted it through the W3C ``traceparent`` it stores, so a request and the job it made (its
queue wait, model load, batching wait, inference) are one trace.
"""

from __future__ import annotations

import logging

from opentelemetry import context, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from berth import __version__
from berth.settings import Settings

log = logging.getLogger(__name__)
_propagator = TraceContextTextMapPropagator()
_recording = False
"""Whether a provider is installed (spans are recorded)."""


def configure(settings: Settings, exporter: SpanExporter | None = None) -> TracerProvider | None:
    """Install a tracer provider if tracing is on (or an exporter is given, for tests)."""
    if not settings.tracing and exporter is None:
        return None
    provider = TracerProvider(
        resource=Resource.create({"service.name": "berth", "service.version": __version__})
    )
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=settings.otlp_endpoint))
        )
    trace.set_tracer_provider(provider)
    global _recording
    _recording = True
    log.info(
        "tracing on",
        extra={"action": "tracing.configured", "endpoint": settings.otlp_endpoint},
    )
    return provider


def recording() -> bool:
    """Whether tracing is configured: spans are recorded. While it is not, code on a hot path
    may skip making spans, unless a caller's trace context is to be carried on."""
    return _recording


def tracer() -> trace.Tracer:
    """Berth's tracer (non-recording until tracing is configured)."""
    return trace.get_tracer("berth", __version__)


def current_traceparent() -> str | None:
    """The W3C traceparent of the active span, if it is recording."""
    span = trace.get_current_span()
    if not span.get_span_context().is_valid:
        return None
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return carrier.get("traceparent")


def context_from(traceparent: str | None) -> context.Context | None:
    """A context whose parent is the span a traceparent names (None if there is none)."""
    if not traceparent:
        return None
    return _propagator.extract({"traceparent": traceparent})


def current_trace_id() -> str | None:
    """The active trace's id as 32 hex digits, for logs."""
    span_context = trace.get_current_span().get_span_context()
    return format(span_context.trace_id, "032x") if span_context.is_valid else None
