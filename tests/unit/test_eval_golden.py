"""Goldens (pins and their drift), run comparison and the report's percentiles, on records."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

from berth.evals.compare import compare
from berth.evals.golden import Golden, drifts
from berth.evals.records import CriterionResult, EvalRun, OutputItem, RunStatus
from berth.evals.report import percentile

pytestmark = pytest.mark.unit


def item(index: int, text: str, score: float, passed: bool) -> OutputItem:
    results: list[dict[str, Any]] = [{"name": "fuzzy", "score": score, "passed": passed}]
    return OutputItem(f"oi{index}", "run", "eval", index, {}, {"output_text": text}, results,
                      passed, 0.0)  # fmt: skip


def run(passed: int, failed: int) -> EvalRun:
    per = (CriterionResult("fuzzy", passed, failed),)
    return EvalRun("run", "eval", "r", {}, RunStatus.COMPLETED, 0.0,
                   per_testing_criteria_results=per)  # fmt: skip


def test_a_golden_pins_either_a_text_or_a_named_score() -> None:
    with pytest.raises(pydantic.ValidationError, match="pin either output_text"):
        Golden(index=0)
    with pytest.raises(pydantic.ValidationError, match="pin either output_text"):
        Golden(index=0, output_text="a", criterion="fuzzy", score=1.0)
    with pytest.raises(pydantic.ValidationError, match="names its criterion"):
        Golden(index=0, score=1.0)


def test_drifts_name_each_sample_beyond_its_tolerance() -> None:
    items = [item(0, "Paris", 0.9, True), item(1, "Rome", 0.5, False)]
    pins = [
        Golden(index=1, criterion="fuzzy", score=0.6, tolerance=0.05),
        Golden(index=0, output_text="Paris"),
        Golden(index=0, criterion="fuzzy", score=0.8, tolerance=0.1),
        Golden(index=1, output_text="Roma"),
        Golden(index=7, output_text="x"),
        Golden(index=0, criterion="exact", score=1.0),
    ]
    found = drifts(pins, items)
    assert [d["message"] for d in found] == [
        "sample 0: no score from criterion 'exact'",
        "sample 1: fuzzy scored 0.5, pinned 0.6 ± 0.05",
        "sample 1: output 'Rome', pinned 'Roma'",
        "sample 7: there is no such sample in the run",
    ]


def test_compare_gives_rates_per_criterion_and_the_samples_that_changed() -> None:
    a = [item(0, "Paris", 1, True), item(1, "Rome", 0, False), item(2, "Oslo", 1, True)]
    b = [item(0, "Paris", 1, True), item(1, "Roma", 1, True)]
    found = compare(run(2, 1), a, run(2, 0), b)
    [change] = found.criteria
    assert (change.name, change.rate_b, found.compared) == ("fuzzy", 1.0, 2)
    assert change.delta == pytest.approx(1 / 3)
    assert [(s.index, s.status_a, s.status_b, s.output_b) for s in found.samples] == [
        (1, "fail", "pass", "Roma"),
        (2, "pass", None, None),
    ]


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 0.5), percentile(values, 0.95)) == (50.0, 95.0)
    assert percentile([3.0], 0.95) == 3.0 and percentile([], 0.5) is None
