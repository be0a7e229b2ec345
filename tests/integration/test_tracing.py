"""Tracing with the SDK's in-memory exporter: a request and the job it made are one trace."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from berth import tracing
from berth.app import Berth
from berth.settings import Settings
from berth.site import create_app

pytestmark = pytest.mark.integration
EXPORTER = InMemorySpanExporter()


@pytest.fixture(scope="module")
def spans() -> InMemorySpanExporter:
    """The process's tracer provider exports here (OpenTelemetry allows setting it once)."""
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        tracing.configure(Settings(), exporter=EXPORTER)
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    return EXPORTER


@pytest.fixture
async def client(tmp_path: Path, spans: InMemorySpanExporter) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(home=tmp_path, poll_seconds=0.1)
    async with Berth(settings) as berth, berth.dispatcher():
        transport = httpx.ASGITransport(app=create_app(berth))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            spans.clear()
            yield c


async def test_a_request_and_its_job_are_one_trace(
    client: httpx.AsyncClient, spans: InMemorySpanExporter
) -> None:
    created = await client.post("/v1/jobs", json={"kind": "sleep", "input": {"seconds": 0.1}})
    trace_id = created.headers["x-trace-id"]
    job_id = created.json()["id"]
    stream = await client.get(f"/v1/jobs/{job_id}/events")
    assert f'"trace_id":"{trace_id}"' in stream.text.split("\n\n")[0]
    finished = {span.name: span for span in spans.get_finished_spans()}
    job_span = finished["job sleep"]
    assert format(job_span.context.trace_id, "032x") == trace_id
    assert job_span.attributes is not None and job_span.attributes["berth.job.id"] == job_id
    wait = finished["queue wait"]
    assert wait.parent is not None and wait.parent.span_id == job_span.context.span_id
    assert wait.start_time is not None and wait.end_time is not None
    assert wait.end_time >= wait.start_time
    request = finished["HTTP POST /v1/jobs"]
    assert format(request.context.trace_id, "032x") == trace_id
    assert finished["job.submit"].parent is not None


async def test_an_incoming_traceparent_is_continued(
    client: httpx.AsyncClient, spans: InMemorySpanExporter
) -> None:
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    answer = await client.get("/healthz", headers={"traceparent": parent})
    assert answer.headers["x-trace-id"] == "0af7651916cd43dd8448eb211c80319c"


async def test_a_model_call_shows_load_batching_and_inference(
    tmp_path: Path, spans: InMemorySpanExporter
) -> None:
    settings = Settings(home=tmp_path)
    async with Berth(settings) as berth:
        spans.clear()
        with tracing.tracer().start_as_current_span("caller"):
            await berth.pool.run("echo", ["one", "two"])
            await berth.pool.run("echo", ["three"])
    names = [span.name for span in spans.get_finished_spans()]
    assert names.count("model call") == 2
    assert names.count("model load") == 1, "only the cold call loads"
    assert names.count("batching wait") == 2 and names.count("inference") == 2
    caller = next(s for s in spans.get_finished_spans() if s.name == "caller")
    assert {s.context.trace_id for s in spans.get_finished_spans()} == {caller.context.trace_id}
