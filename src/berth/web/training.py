"""The training page of a fine-tuning job: its state, the loss curve (train and validation),
the trainer's own metrics (DPO's reward margin and accuracy), the learning rate, an ETA, and
its checkpoints; it reloads itself while the job runs."""

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
COMMON = frozenset(
    {"step", "total_steps", "train_loss", "valid_loss", "learning_rate", "tokens_per_second"}
)
"""The figures every trainer reports; any other number in a ``metrics`` event is the
trainer's own and gets a chart of its own."""


def _points(steps: Sequence[tuple[float, float]], top: float, last_step: float) -> str:
    """An SVG polyline's points for (step, loss) pairs, scaled into the chart."""
    span_x, span_y = max(last_step, 1.0), max(top, 1e-9)
    inner_w, inner_h = WIDTH - 2 * MARGIN, HEIGHT - 2 * MARGIN
    return " ".join(
        f"{MARGIN + inner_w * step / span_x:.1f},{MARGIN + inner_h * (1 - loss / span_y):.1f}"
        for step, loss in steps
    )


def _series(metrics: Sequence[dict[str, Any]], name: str, last_step: float) -> dict[str, Any]:
    """One trainer metric's curve, scaled between its own lowest and highest value."""
    values = [(float(m["step"]), float(m[name])) for m in metrics if name in m]
    numbers = [v for _, v in values]
    low = min([*numbers, 0.0])
    high = max([*numbers, low + 1e-9])
    shifted = [(step, value - low) for step, value in values]
    return {
        "name": name,
        "points": _points(shifted, high - low, last_step),
        "low": low,
        "high": high,
        "latest": values[-1][1],
    }


def _own(metrics: Sequence[dict[str, Any]], last_step: float) -> list[dict[str, Any]]:
    """A curve for each number the trainer reports beyond the common ones."""
    names = sorted({k for m in metrics for k, v in m.items() if k not in COMMON and _is_number(v)})
    return [_series(metrics, name, last_step) for name in names]


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _metrics(events: Sequence[FineTuningEvent]) -> list[dict[str, Any]]:
    return sorted(
        (e.data for e in events if e.type is EventType.METRICS and e.data),
        key=lambda data: float(data["step"]),
    )


def chart(events: Sequence[FineTuningEvent]) -> dict[str, Any]:
    """The loss curves, the trainer's own metrics and the latest figures from a job's
    ``metrics`` events."""
    metrics = _metrics(events)
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
        "own": _own(metrics, last_step),
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
