"""``/metrics``: Prometheus text format."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from berth import metrics
from berth.http.auth import metrics_access
from berth.http.runtime import ServicesDep

router = APIRouter(tags=["health"])


@router.get("/metrics", response_class=Response, dependencies=[Depends(metrics_access)])
async def prometheus(services: ServicesDep) -> Response:
    """Every Berth metric; queue depth is read from the store at scrape time. Needs a key
    with the metrics scope where BERTH_METRICS_REQUIRE_KEY is set."""
    counts = await services.status.queue()
    metrics.jobs.clear()
    for (status, kind), count in counts.items():
        metrics.jobs.labels(status.value, kind).set(count)
    services.agents.tools()
    await services.agents.sessions()
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
