"""The training page of a fine-tuning job: its state, the loss curve (train and validation),
the learning rate, an ETA, and its checkpoints; it reloads itself while the job runs."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from berth.http.runtime import services
from berth.keys.key import Scope
from berth.training.record import EventType, FineTuningEvent, FineTuningJob
from berth.web.access import Visitor
from berth.web.render import page, shown

router = APIRouter(include_in_schema=False)
WIDTH, HEIGHT, MARGIN = 640, 240, 32
MAX_EVENTS = 100


def _points(steps: Sequence[tuple[float, float]], top: float, last_step: float) -> str:
    """An SVG polyline's points for (step, loss) pairs, scaled into the chart."""
    span_x, span_y = max(last_step, 1.0), max(top, 1e-9)
    inner_w, inner_h = WIDTH - 2 * MARGIN, HEIGHT - 2 * MARGIN
    return " ".join(
        f"{MARGIN + inner_w * step / span_x:.1f},{MARGIN + inner_h * (1 - loss / span_y):.1f}"
        for step, loss in steps
    )


def chart(events: Sequence[FineTuningEvent]) -> dict[str, Any]:
    """The loss curves and latest figures from a job's ``metrics`` events."""
    metrics = sorted(
        (e.data for e in events if e.type is EventType.METRICS and e.data),
        key=lambda data: float(data["step"]),
    )
    train = [(float(m["step"]), float(m["train_loss"])) for m in metrics]
    valid = [(float(m["step"]), float(m["valid_loss"])) for m in metrics if "valid_loss" in m]
    top = max([loss for _, loss in train + valid], default=1.0)
    last = metrics[-1] if metrics else {}
    last_step = float(last.get("total_steps", last.get("step", 1.0)))
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "train": _points(train, top, last_step),
        "valid": _points(valid, top, last_step),
        "top": top,
        "latest": last,
    }


def eta(tune: FineTuningJob, events: Sequence[FineTuningEvent]) -> float | None:
    """Seconds left, from the pace of the steps reported so far."""
    metrics = [e for e in events if e.type is EventType.METRICS and e.data]
    if tune.status.finished or len(metrics) < 2:
        return None
    newest, oldest = metrics[0], metrics[-1]
    assert newest.data is not None
    assert oldest.data is not None
    done = float(newest.data["step"]) - float(oldest.data["step"])
    if done <= 0:
        return None
    pace = max(newest.created_at - oldest.created_at, time.time() - newest.created_at) / done
    return pace * (float(newest.data["total_steps"]) - float(newest.data["step"]))


@router.get("/fine-tuning/{tune_id}")
async def training_page(tune_id: str, request: Request) -> Response:
    async def build(who: Visitor) -> Response:
        found = services(request).fine_tuning
        tune = await found.get(who.key, tune_id)
        events = await found.events(who.key, tune_id, limit=MAX_EVENTS)
        context = {
            "title": f"Fine-tuning {tune.id}",
            "tune": tune,
            "chart": chart(events),
            "eta": eta(tune, events),
            "events": events[:20],
            "checkpoints": await found.checkpoints(who.key, tune_id, limit=MAX_EVENTS),
            "live": not tune.status.finished,
        }
        return page(request, who, "training.html", context)

    return await shown(request, Scope.JOBS, build)
