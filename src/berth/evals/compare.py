"""Two runs side by side: each criterion's pass rate in both, and the samples that differ."""

from __future__ import annotations

from dataclasses import dataclass

from berth.evals.records import EvalRun, OutputItem


@dataclass(frozen=True)
class CriterionChange:
    """One criterion's pass rate in run A and run B (None where a run has no grades of it)."""

    name: str
    rate_a: float | None
    rate_b: float | None

    @property
    def delta(self) -> float | None:
        if self.rate_a is None or self.rate_b is None:
            return None
        return self.rate_b - self.rate_a


@dataclass(frozen=True)
class SampleChange:
    """A sample (by its index) whose status or output differs between the runs."""

    index: int
    status_a: str | None
    status_b: str | None
    output_a: str | None
    output_b: str | None


@dataclass(frozen=True)
class Comparison:
    """How run B differs from run A."""

    criteria: list[CriterionChange]
    samples: list[SampleChange]
    compared: int
    """Samples present in both runs."""


def _rates(run: EvalRun) -> dict[str, float]:
    rates = {}
    for result in run.per_testing_criteria_results:
        graded = result.passed + result.failed
        if graded:
            rates[result.testing_criteria] = result.passed / graded
    return rates


def _output(item: OutputItem | None) -> str | None:
    if item is None:
        return None
    text = item.sample.get("output_text")
    return text if isinstance(text, str) else None


def compare(
    run_a: EvalRun, items_a: list[OutputItem], run_b: EvalRun, items_b: list[OutputItem]
) -> Comparison:
    """Run B against run A: criteria by name, samples by index."""
    rates_a, rates_b = _rates(run_a), _rates(run_b)
    names = list(dict.fromkeys([*rates_a, *rates_b]))
    criteria = [CriterionChange(n, rates_a.get(n), rates_b.get(n)) for n in names]
    by_a = {item.index: item for item in items_a}
    by_b = {item.index: item for item in items_b}
    samples = []
    for index in sorted(set(by_a) | set(by_b)):
        a, b = by_a.get(index), by_b.get(index)
        status_a = a.status if a is not None else None
        status_b = b.status if b is not None else None
        if status_a != status_b or _output(a) != _output(b):
            samples.append(SampleChange(index, status_a, status_b, _output(a), _output(b)))
    return Comparison(criteria, samples, len(set(by_a) & set(by_b)))
