"""The pool's side: throughput and latency with concurrent callers, cold load, memory."""

from __future__ import annotations

import asyncio
import itertools
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil
from bench.poolbench.workload import ALIAS, sentences

from berth.models.cache import ModelCache
from berth.models.catalog import Catalog
from berth.plugins import discover
from berth.pool.pool import ModelPool
from berth.settings import Settings

GROUP_SECONDS = 0.002
"""Calls finishing within this of the first finish belong to the first batch."""


@dataclass(frozen=True)
class Window:
    """One measured window of ``callers`` concurrent callers, one sentence per call."""

    sentences_per_s: float
    latencies: list[float]


@dataclass(frozen=True)
class CallerRow:
    """One row of the table: the median of its rounds, each paired with a direct run."""

    callers: int
    sentences_per_s: float
    direct_per_s: float
    ratio: float
    """Median over the rounds of pool / direct, each pool window against the direct run
    just before it (so background load on the machine hits both sides alike)."""
    p50_ms: float
    p99_ms: float
    rounds: int


@dataclass(frozen=True)
class ColdLoad:
    """A model process started from nothing, then called."""

    load_s: float
    first_call_ms: float
    warm_call_ms: float
    process_rss: int


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between ranks."""
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def make_pool(home: Path, max_batch_size: int) -> ModelPool:
    """A pool over the built-in catalog, MiniLM batching up to ``max_batch_size``."""
    settings = Settings(home=home)
    runners = discover().runners
    catalog, cache = Catalog.load(settings, runners), ModelCache(settings)
    spec = catalog.get(ALIAS)
    options = spec.options.model_copy(update={"max_batch_size": max_batch_size})
    tuned = spec.model_copy(update={"options": options})
    return ModelPool(settings, lambda alias: tuned, cache.path_for, runners)


def steady_rate(finishes: list[float]) -> float:
    """Calls per second from the times calls finished: the calls after the first group, over
    the time from the first finish to the last. Calls finish in groups (a batch at a time),
    so counting whole windows would be off by up to a batch; this counts whole batches."""
    ordered = sorted(finishes)
    first, last = ordered[0], ordered[-1]
    later = [t for t in ordered if t > first + GROUP_SECONDS]
    return len(later) / (last - first) if later else 0.0


async def window(pool: ModelPool, callers: int, warmup: float, seconds: float) -> Window:
    """``callers`` tasks call the pool back to back for ``warmup + seconds``; the calls that
    finish after the warm-up give the rate, and those that also start after it the latency."""
    corpus = sentences()
    picks = itertools.count()
    latencies: list[float] = []
    finishes: list[float] = []
    begin = time.perf_counter() + warmup
    end = begin + seconds

    async def caller() -> None:
        while (started := time.perf_counter()) < end:
            await pool.run(ALIAS, [corpus[next(picks) % len(corpus)]])
            finished = time.perf_counter()
            if begin <= finished <= end:
                finishes.append(finished)
                if started >= begin:
                    latencies.append(finished - started)

    await asyncio.gather(*(caller() for _ in range(callers)))
    return Window(steady_rate(finishes), latencies)


async def callers_rows(
    max_batch_size: int,
    callers: tuple[int, ...],
    baseline: Callable[[], float],
    rounds: int,
    warmup: float,
    seconds: float,
) -> list[CallerRow]:
    """For each caller count, ``rounds`` times: ``baseline()`` (the direct run), then a pool
    window. The pool's model process is idle while the direct run works, and the other way
    round."""
    rows = []
    with tempfile.TemporaryDirectory() as home:
        async with make_pool(Path(home), max_batch_size) as pool:
            await pool.load(ALIAS)
            for count in callers:
                pairs = [
                    (baseline(), await window(pool, count, warmup, seconds)) for _ in range(rounds)
                ]
                rows.append(row_of(count, pairs))
    return rows


def row_of(callers: int, pairs: list[tuple[float, Window]]) -> CallerRow:
    latencies = [latency for _, w in pairs for latency in w.latencies]
    row = CallerRow(
        callers,
        statistics.median(w.sentences_per_s for _, w in pairs),
        statistics.median(direct for direct, _ in pairs),
        statistics.median(w.sentences_per_s / direct for direct, w in pairs),
        percentile(latencies, 0.5) * 1000,
        percentile(latencies, 0.99) * 1000,
        len(pairs),
    )
    print(
        f"  pool, {callers:>2} callers: {row.sentences_per_s:7.1f} sentences/s, "
        f"{row.ratio:.3f} x direct",
        file=sys.stderr,
    )
    return row


async def cold_load(max_batch_size: int, warm_calls: int = 30) -> ColdLoad:
    """Load into a fresh model process, call once, then time single calls to the idle model."""
    with tempfile.TemporaryDirectory() as home:
        async with make_pool(Path(home), max_batch_size) as pool:
            started = time.perf_counter()
            await pool.load(ALIAS)
            loaded = time.perf_counter()
            await pool.run(ALIAS, ["warm-up sentence"])
            first = time.perf_counter()
            [model] = pool.describe()
            rss = psutil.Process(model["pid"]).memory_info().rss
            warm = []
            for text in sentences(warm_calls, seed=11):
                began = time.perf_counter()
                await pool.run(ALIAS, [text])
                warm.append(time.perf_counter() - began)
    return ColdLoad(loaded - started, (first - loaded) * 1000, statistics.median(warm) * 1000, rss)


def measure(
    max_batch_size: int,
    callers: tuple[int, ...],
    baseline: Callable[[], float],
    rounds: int,
    warmup: float,
    seconds: float,
) -> list[CallerRow]:
    return asyncio.run(callers_rows(max_batch_size, callers, baseline, rounds, warmup, seconds))


def measure_cold(max_batch_size: int) -> ColdLoad:
    return asyncio.run(cold_load(max_batch_size))


JOB_CHUNK = 256
"""Texts per job call, as the ``embed`` kind sends them."""


@dataclass(frozen=True)
class Saturated:
    """Online calls made while a job keeps the model busy, with the job's calls in the
    background lane (as jobs run) or, for comparison, in the online lane with them."""

    lane: str
    online_p50_ms: float
    online_p99_ms: float
    calls: int
    job_sentences_per_s: float


async def saturated(pool: ModelPool, background: bool, calls: int, gap: float) -> Saturated:
    """Two job callers send 256-text calls back to back; meanwhile one online caller sends a
    sentence every ``gap`` seconds, ``calls`` times."""
    corpus = sentences()
    chunk = [corpus[i % len(corpus)] for i in range(JOB_CHUNK)]
    stop = asyncio.Event()
    done = 0

    async def job() -> None:
        nonlocal done
        while not stop.is_set():
            await pool.run(ALIAS, chunk, background=background)
            done += len(chunk)

    jobs = [asyncio.create_task(job()) for _ in range(2)]
    await asyncio.sleep(1.0)  # the job is under way
    started, before = time.perf_counter(), done
    latencies = []
    for text in sentences(calls, seed=5):
        began = time.perf_counter()
        await pool.run(ALIAS, [text])
        latencies.append(time.perf_counter() - began)
        await asyncio.sleep(gap)
    rate = (done - before) / (time.perf_counter() - started)
    stop.set()
    await asyncio.gather(*jobs)
    lane = "background" if background else "online (FIFO)"
    return Saturated(
        lane, percentile(latencies, 0.5) * 1000, percentile(latencies, 0.99) * 1000, calls, rate
    )


async def saturated_rows(max_batch_size: int, calls: int, gap: float) -> list[Saturated]:
    with tempfile.TemporaryDirectory() as home:
        async with make_pool(Path(home), max_batch_size) as pool:
            await pool.load(ALIAS)
            rows = [await saturated(pool, lane, calls, gap) for lane in (True, False)]
    for row in rows:
        print(
            f"  saturated, job in the {row.lane} lane: online p50 {row.online_p50_ms:.1f} ms",
            file=sys.stderr,
        )
    return rows


def measure_saturated(max_batch_size: int, calls: int, gap: float = 0.05) -> list[Saturated]:
    return asyncio.run(saturated_rows(max_batch_size, calls, gap))
