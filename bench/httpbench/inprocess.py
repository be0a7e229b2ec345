"""The baseline: the model called directly in this process, with no HTTP in between."""

from __future__ import annotations

import functools
import gc
import itertools
import sys
import time
from dataclasses import dataclass
from typing import Any

from .contention import Patience, Share, least_disturbed
from .corpus import model_dir, sentences

BATCH_SIZES = (1, 8, 16, 32, 64, 128)


@dataclass(frozen=True, slots=True)
class Effort:
    """How long each window runs and how hard to look for an undisturbed one."""

    latency_s: float
    batch_s: float
    patience: Patience


@dataclass(frozen=True, slots=True)
class Baseline:
    """Batch-1 latency and throughput by batch size of the model called directly."""

    batch1_p50_ms: float
    batch1_p99_ms: float
    batch1_calls: int
    sentences_per_s: dict[int, float]
    disturbance: dict[str, Share]
    """Outside load during each window: ``latency`` and ``batch N``."""

    @property
    def best_batch(self) -> int:
        """The batch size with the highest throughput."""
        return max(self.sentences_per_s, key=lambda size: self.sentences_per_s[size])

    @property
    def best_per_s(self) -> float:
        """Sentences per second at the best batch size: what a server could reach at most."""
        return self.sentences_per_s[self.best_batch]


def percentile(values: list[float], share: float) -> float:
    """The ``share`` percentile (0-100), interpolating linearly between ranks."""
    ordered = sorted(values)
    rank = (len(ordered) - 1) * share / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def load_model() -> Any:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(model_dir()), device="cpu", local_files_only=True)
    model.encode(sentences()[:64], batch_size=64)
    return model


class BerthEngine:
    """The model as Berth's ``sentence-transformers`` runner runs it by default on CPU (on ONNX
    Runtime), called directly: what Berth's server would reach with no serving cost at all.
    Answers ``encode`` as a SentenceTransformer does, so the same loops time it."""

    def __init__(self) -> None:
        from berth.models.spec import ModelSpec
        from berth.runners.sentence_transformer import SentenceTransformerRunner

        spec = ModelSpec.model_validate(
            {"alias": "minilm", "task": "embed", "runner": "sentence-transformers"}
            | {"source": "none:"}
        )
        self._runner = SentenceTransformerRunner()
        self._runner.load(spec, model_dir(), "cpu")
        self.engine = self._runner.engine
        self.encode(sentences()[:64], batch_size=64)

    def encode(self, texts: list[str], batch_size: int) -> list[Any]:
        return self._runner.run(texts)


def batch1_latencies(model: Any, seconds: float) -> list[float]:
    latencies = []
    corpus = itertools.cycle(sentences())
    deadline = time.perf_counter() + seconds
    while (start := time.perf_counter()) < deadline:
        model.encode([next(corpus)], batch_size=1)
        latencies.append((time.perf_counter() - start) * 1000)
    return latencies


def throughput(model: Any, batch_size: int, seconds: float) -> float:
    corpus = itertools.cycle(sentences())
    done, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        model.encode(list(itertools.islice(corpus, batch_size)), batch_size=batch_size)
        done += batch_size
    return done / elapsed


def _sweep(model: Any, effort: Effort) -> tuple[dict[int, float], dict[str, Share]]:
    rates, shares = {}, {}
    for size in BATCH_SIZES:
        attempt = functools.partial(throughput, model, size, effort.batch_s)
        rates[size], shares[f"batch {size}"] = least_disturbed(attempt, effort.patience)
    return rates, shares


def _report(baseline: Baseline, label: str) -> None:
    shown = ", ".join(f"{size}: {rate:.0f}" for size, rate in baseline.sentences_per_s.items())
    print(
        f"  {label}: batch 1 p50 {baseline.batch1_p50_ms:.2f} ms; sentences/s by batch {shown}",
        file=sys.stderr,
        flush=True,
    )


def measure(effort: Effort, berth_engine: bool = False) -> Baseline:
    """Load the model (with sentence-transformers, or ``berth_engine``: as Berth's runner runs
    it), time single-sentence calls, then sweep the batch sizes."""
    model = BerthEngine() if berth_engine else load_model()
    attempt = functools.partial(batch1_latencies, model, effort.latency_s)
    latencies, latency_share = least_disturbed(attempt, effort.patience)
    rates, shares = _sweep(model, effort)
    del model
    gc.collect()
    baseline = Baseline(
        batch1_p50_ms=percentile(latencies, 50),
        batch1_p99_ms=percentile(latencies, 99),
        batch1_calls=len(latencies),
        sentences_per_s=rates,
        disturbance={"latency": latency_share} | shares,
    )
    _report(baseline, "in-process, Berth's engine" if berth_engine else "in-process")
    return baseline


def best_of(runs: list[Baseline]) -> Baseline:
    """The best figures of several runs: the quickest batch-1 run and the top rate at each
    batch size. Other work on the machine only ever slows the model down, so the best run is
    the closest to what the model can do, and the hardest baseline for a server to match."""
    quickest = min(runs, key=lambda run: run.batch1_p50_ms)
    fastest = {size: max(runs, key=lambda run: run.sentences_per_s[size]) for size in BATCH_SIZES}
    return Baseline(
        batch1_p50_ms=quickest.batch1_p50_ms,
        batch1_p99_ms=quickest.batch1_p99_ms,
        batch1_calls=quickest.batch1_calls,
        sentences_per_s={size: run.sentences_per_s[size] for size, run in fastest.items()},
        disturbance={"latency": quickest.disturbance["latency"]}
        | {f"batch {size}": run.disturbance[f"batch {size}"] for size, run in fastest.items()},
    )
