"""``/metrics``: Prometheus text format."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from berth import metrics
from berth.api.runtime import runtime

router = APIRouter(tags=["health"])


@router.get("/metrics", response_class=Response)
async def prometheus(request: Request) -> Response:
    """Every Berth metric; queue depth is read from the store at scrape time."""
    counts = await runtime(request).berth.store.counts()
    metrics.jobs.clear()
    for (status, kind), count in counts.items():
        metrics.jobs.labels(status.value, kind).set(count)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
