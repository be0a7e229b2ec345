"""One system from start to stop: ready, idle memory, warm-up, then wrk at each concurrency."""

from __future__ import annotations

import functools
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from .client import embed_once
from .contention import Patience, least_disturbed
from .errors import BenchError
from .launches import EMBEDDINGS_PATH
from .loadgen import Load, run_wrk
from .reference import ADJACENT, Reference
from .server import Launch, running

SETTLE_S = 1.0
"""Pause between readiness and the idle memory reading, for start-up work to finish."""


@dataclass(frozen=True, slots=True)
class Pace:
    """How long wrk drives each concurrency: a warm-up run (discarded), then the measured one."""

    concurrencies: tuple[int, ...]
    warmup_s: float
    duration_s: float
    patience: Patience


@dataclass(slots=True)
class Trial:
    """What was measured of one system; ``error`` says why the rest was not."""

    system: str
    loads: list[Load] = field(default_factory=list)
    ready_s: float | None = None
    first_request_s: float | None = None
    idle_rss: int | None = None
    loaded_rss: int | None = None
    listening: list[str] = field(default_factory=list)
    error: str | None = None

    def at(self, connections: int) -> Load | None:
        """The load measured at ``connections``, if any."""
        return next((load for load in self.loads if load.connections == connections), None)


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _drive(trial: Trial, url: str, bodies: Path, pace: Pace, reference: Reference | None) -> None:
    for connections in pace.concurrencies:
        run_wrk(url, EMBEDDINGS_PATH, bodies, connections, pace.warmup_s, warmup=True)
        bracket = reference if connections in ADJACENT else None
        before = bracket.measure(connections) if bracket else None
        load, share = least_disturbed(
            functools.partial(run_wrk, url, EMBEDDINGS_PATH, bodies, connections, pace.duration_s),
            pace.patience,
        )
        after = bracket.measure(connections) if bracket else None
        load = replace(
            load,
            other_cores=share.other_cores,
            steal_cores=share.steal_cores,
            tries=share.tries,
            adjacent=(before, after) if before is not None and after is not None else None,
        )
        trial.loads.append(load)
        _say(
            f"  {trial.system:<16} c={connections:<3} {load.per_s:7.1f} req/s  "
            f"p50 {load.p50_ms:7.1f} ms  p99 {load.p99_ms:7.1f} ms  errors {load.errors}  "
            f"other {load.other_cores:.2f} cores ({load.tries} tries)"
            + (f"  in-process around it {before:.1f} / {after:.1f}" if load.adjacent else "")
        )


def measure(
    launch: Launch, bodies: Path, pace: Pace, log_dir: Path, reference: Reference | None = None
) -> Trial:
    """Start the server, measure it, stop it; with a ``reference``, the windows at the
    concurrencies of the targets are bracketed by in-process runs. Failures end up in
    ``Trial.error``."""
    trial = Trial(launch.name)
    _say(f"measuring {launch.name} on {launch.base_url} ...")
    try:
        with running(launch, log_dir) as server:
            trial.ready_s = server.wait_ready()
            time.sleep(SETTLE_S)
            trial.idle_rss = server.rss_bytes()
            trial.listening = server.listening()
            trial.first_request_s = embed_once(launch.base_url + EMBEDDINGS_PATH)
            _drive(trial, launch.base_url, bodies, pace, reference)
            trial.loaded_rss = server.rss_bytes()
    except (BenchError, OSError) as exc:
        trial.error = f"{type(exc).__name__}: {exc}"
        _say(f"  {launch.name} failed: {trial.error}")
    return trial
