"""Job timestamps, and the figures the benchmark reports from them."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .errors import BenchError


@dataclass(frozen=True, slots=True)
class JobTimes:
    """When one job was submitted, started and finished (Unix seconds, one machine's clock)."""

    submitted: float
    started: float
    finished: float

    @property
    def wait_ms(self) -> float:
        """Submit-to-start latency in milliseconds."""
        return (self.started - self.submitted) * 1000.0


@dataclass(frozen=True, slots=True)
class Latency:
    """Percentiles of submit-to-start latency over one phase's jobs."""

    p50_ms: float
    p99_ms: float
    max_ms: float
    samples: int


@dataclass(frozen=True, slots=True)
class Figures:
    """Everything measured for one system, database and worker count."""

    jobs: int
    elapsed_s: float
    jobs_per_s: float
    burst: Latency
    idle: Latency


@dataclass(frozen=True, slots=True)
class Phases:
    """The ids of the jobs submitted in each phase of one measurement."""

    backlog: Sequence[str]
    burst: Sequence[str]
    idle: Sequence[str]

    @property
    def all(self) -> list[str]:
        return [*self.backlog, *self.burst, *self.idle]


def percentile(values: Sequence[float], fraction: float) -> float:
    """The ``fraction`` quantile of ``values``, interpolating linearly between ranks."""
    if not values:
        raise BenchError("Cannot take a percentile of no values.")
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def latency(times: Sequence[JobTimes]) -> Latency:
    """Submit-to-start percentiles of these jobs."""
    waits = [job.wait_ms for job in times]
    return Latency(percentile(waits, 0.50), percentile(waits, 0.99), max(waits), len(waits))


def throughput(times: Sequence[JobTimes]) -> tuple[float, float]:
    """Seconds from the first start to the last finish, and jobs per second over them."""
    elapsed = max(job.finished for job in times) - min(job.started for job in times)
    if elapsed <= 0:
        raise BenchError(f"{len(times)} jobs took no measurable time; submit more of them.")
    return elapsed, len(times) / elapsed


def select(times: Mapping[str, JobTimes], ids: Sequence[str]) -> list[JobTimes]:
    """The timestamps of these jobs; every one of them must have finished."""
    missing = [job_id for job_id in ids if job_id not in times]
    if missing:
        raise BenchError(f"{len(missing)} jobs have no timestamps, e.g. {missing[0]}.")
    return [times[job_id] for job_id in ids]


def figures(times: Mapping[str, JobTimes], phases: Phases) -> Figures:
    """The figures of one measurement."""
    backlog = select(times, phases.backlog)
    elapsed, rate = throughput(backlog)
    return Figures(
        jobs=len(backlog),
        elapsed_s=elapsed,
        jobs_per_s=rate,
        burst=latency(select(times, phases.burst)),
        idle=latency(select(times, phases.idle)),
    )
