"""The training page's charts from a job's ``metrics`` events: the loss curves, and a curve of
its own for each number a trainer adds (DPO's reward margin and accuracy)."""

from __future__ import annotations

import pytest

from berth.training.record import EventType, FineTuningEvent
from berth.web.training import HEIGHT, MARGIN, chart

pytestmark = pytest.mark.unit


def metrics(step: int, **numbers: float) -> FineTuningEvent:
    data = {"step": float(step), "total_steps": 4.0, "train_loss": 1.0 / step, **numbers}
    return FineTuningEvent(
        f"ftevent-{step}", "ftjob-1", float(step), "step", type=EventType.METRICS, data=data
    )


def ys(points: str) -> list[float]:
    return [float(pair.split(",")[1]) for pair in points.split()]


def test_a_trainers_own_numbers_each_get_a_curve_scaled_to_their_range() -> None:
    events = [
        metrics(s, reward_margin=m, reward_accuracy=a)
        for s, m, a in [(1, -0.5, 0.0), (2, 0.5, 0.5), (3, 1.5, 1.0), (4, 2.5, 1.0)]
    ]
    drawn = chart(list(reversed(events)))
    own = {series["name"]: series for series in drawn["own"]}
    assert sorted(own) == ["reward_accuracy", "reward_margin"]
    margin = own["reward_margin"]
    assert (margin["low"], margin["high"], margin["latest"]) == (-0.5, 2.5, 2.5)
    heights = ys(margin["points"])
    assert heights == sorted(heights, reverse=True), "a rising margin is drawn rising"
    assert heights[0] == pytest.approx(HEIGHT - MARGIN) and heights[-1] == pytest.approx(MARGIN)
    assert own["reward_accuracy"]["low"] == 0.0 and own["reward_accuracy"]["latest"] == 1.0


def test_a_supervised_run_has_no_trainer_metrics() -> None:
    drawn = chart([metrics(1), metrics(2, valid_loss=0.7, learning_rate=1e-3)])
    assert drawn["own"] == []
    assert len(drawn["train"].split()) == 2 and len(drawn["valid"].split()) == 1
