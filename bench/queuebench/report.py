"""The results of a run: the table for people, the JSON summary, and the issue's targets."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .plan import Label
from .timings import Figures

BERTH = "berth"
SQLITE_JOBS_PER_S = 1000.0
POSTGRES_JOBS_PER_S = 500.0
IDLE_P50_MS = 5.0
HEADER = (
    f"{'system':<14}{'database':<12}{'workers':>7}{'jobs/s':>9}{'x peer':>8}"
    f"{'burst p50':>11}{'burst p99':>11}{'idle p50':>10}{'idle p99':>10}"
)


@dataclass(frozen=True, slots=True)
class Outcome:
    """One row: its figures, or why there are none."""

    label: Label
    figures: Figures | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Target:
    """One of the issue's targets for Berth, and whether this run meets it."""

    name: str
    value: float | None
    bound: float
    at_least: bool

    @property
    def goal(self) -> str:
        return f"{'>=' if self.at_least else '<='} {self.bound:g}"

    @property
    def met(self) -> bool:
        if self.value is None:
            return False
        return self.value >= self.bound if self.at_least else self.value <= self.bound


def _peer(outcomes: Sequence[Outcome], label: Label) -> Outcome | None:
    for outcome in outcomes:
        other = outcome.label
        if (
            other.system != BERTH
            and other.database == label.database
            and other.workers == label.workers
        ):
            return outcome
    return None


def _ratio(ours: float, theirs: float) -> float | None:
    return round(ours / theirs, 2) if theirs > 0 else None


def ratios(outcomes: Sequence[Outcome]) -> list[dict[str, Any]]:
    """Berth's figures over its peer's on the same database and worker count."""
    rows = []
    for outcome in outcomes:
        peer = _peer(outcomes, outcome.label)
        if outcome.label.system != BERTH or peer is None:
            continue
        if outcome.figures is None or peer.figures is None:
            continue
        ours, theirs = outcome.figures, peer.figures
        rows.append(
            {
                "database": outcome.label.database,
                "workers": outcome.label.workers,
                "peer": peer.label.system,
                "jobs_per_s": _ratio(ours.jobs_per_s, theirs.jobs_per_s),
                "burst_p50": _ratio(ours.burst.p50_ms, theirs.burst.p50_ms),
                "burst_p99": _ratio(ours.burst.p99_ms, theirs.burst.p99_ms),
                "idle_p50": _ratio(ours.idle.p50_ms, theirs.idle.p50_ms),
                "idle_p99": _ratio(ours.idle.p99_ms, theirs.idle.p99_ms),
            }
        )
    return rows


def _rate(outcomes: Sequence[Outcome], database: str, workers: int) -> float | None:
    for outcome in outcomes:
        label = outcome.label
        if (label.system, label.database, label.workers) == (BERTH, database, workers):
            return outcome.figures.jobs_per_s if outcome.figures else None
    return None


def targets(outcomes: Sequence[Outcome]) -> list[Target]:
    """The issue's targets, each with Berth's figure from this run."""
    idle = [o.figures.idle.p50_ms for o in outcomes if o.label.system == BERTH and o.figures]
    found = [
        Target(f"berth sqlite {n}w jobs/s", _rate(outcomes, "sqlite", n), SQLITE_JOBS_PER_S, True)
        for n in (1, 2)
    ]
    postgres = _rate(outcomes, "postgresql", 2)
    found.append(Target("berth postgresql 2w jobs/s", postgres, POSTGRES_JOBS_PER_S, True))
    worst_idle = max(idle) if idle else None
    found.append(Target("berth worst idle p50 ms", worst_idle, IDLE_P50_MS, False))
    return [target for target in found if target.value is not None]


def _cell(value: float | None, width: int, digits: int) -> str:
    return f"{'-' if value is None else f'{value:.{digits}f}':>{width}}"


def _row(outcome: Outcome, ratio: float | None) -> str:
    label = outcome.label
    head = f"{label.system:<14}{label.database:<12}{label.workers:>7}"
    figures = outcome.figures
    if figures is None:
        reason = (outcome.error or "unknown").splitlines()[0]
        return f"{head}  failed: {reason}"
    return (
        f"{head}{_cell(figures.jobs_per_s, 9, 0)}{_cell(ratio, 8, 2)}"
        f"{_cell(figures.burst.p50_ms, 11, 1)}{_cell(figures.burst.p99_ms, 11, 1)}"
        f"{_cell(figures.idle.p50_ms, 10, 1)}{_cell(figures.idle.p99_ms, 10, 1)}"
    )


def table(outcomes: Sequence[Outcome]) -> str:
    """The human table: one row per system, database and worker count; latencies in ms."""
    by_row = {(r["database"], r["workers"]): r["jobs_per_s"] for r in ratios(outcomes)}
    lines = [HEADER, "-" * len(HEADER)]
    for outcome in outcomes:
        label = outcome.label
        ratio = by_row.get((label.database, label.workers)) if label.system == BERTH else None
        lines.append(_row(outcome, ratio))
    lines.append("latencies in ms, submit to start; x peer: Berth's jobs/s over the peer's")
    return "\n".join(lines)


def target_lines(found: Sequence[Target]) -> str:
    """One line per target: the figure, the goal, met or missed."""
    return "\n".join(
        f"target {t.name}: {t.value:.1f} ({t.goal}) {'met' if t.met else 'MISSED'}"
        for t in found
        if t.value is not None
    )


def result_json(outcome: Outcome) -> dict[str, Any]:
    """One row of the JSON summary."""
    label, figures = outcome.label, outcome.figures
    row: dict[str, Any] = {
        "system": label.system,
        "database": label.database,
        "workers": label.workers,
        "error": outcome.error,
    }
    if figures is not None:
        row |= {
            "jobs": figures.jobs,
            "elapsed_s": round(figures.elapsed_s, 4),
            "jobs_per_s": round(figures.jobs_per_s, 1),
        }
        for phase, latency in (("burst", figures.burst), ("idle", figures.idle)):
            row |= {
                f"{phase}_p50_ms": round(latency.p50_ms, 3),
                f"{phase}_p99_ms": round(latency.p99_ms, 3),
                f"{phase}_max_ms": round(latency.max_ms, 3),
                f"{phase}_samples": latency.samples,
            }
    return row


def target_json(target: Target) -> dict[str, Any]:
    value = None if target.value is None else round(target.value, 3)
    return {"name": target.name, "value": value, "goal": target.goal, "met": target.met}
