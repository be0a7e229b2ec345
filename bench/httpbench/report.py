"""The printed table, the targets from the issue, and the JSON summary."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from .inprocess import Baseline
from .loadgen import Load
from .reference import better
from .trial import Trial

PEERS = ("litserve", "infinity", "infinity-compile")
MB = 1_000_000
THROUGHPUT_SHARE = 0.85
"""Berth at concurrency 64 over the in-process throughput at the best batch size."""
PEER_MULTIPLE = 1.3
"""Berth at concurrency 64 over the better peer at concurrency 64."""
LATENCY_MARGIN_MS = 3.0
"""Berth's p50 at concurrency 1 over the in-process batch-1 p50."""
IDLE_RSS_MB = 150.0
"""Resident memory of an idle ``berth serve`` with no model loaded."""
HEADER = (
    f"{'system':<20} {'conc':>5} {'req/s':>8} {'x in-proc':>9} {'p50 ms':>8} {'p99 ms':>8} "
    f"{'errors':>6} {'other':>6} {'adjacent':>9}"
)


@dataclass(frozen=True, slots=True)
class Target:
    """One target from the issue and how this run did against it."""

    name: str
    goal: str
    measured: str
    met: bool | None
    """None when the figures it needs were not measured."""


def _baseline_rows(baseline: Baseline) -> list[str]:
    best, size = baseline.best_per_s, baseline.best_batch
    other = baseline.disturbance
    rows = [
        f"{'in-process batch 1':<20} {'-':>5} {baseline.sentences_per_s[1]:>8.1f} "
        f"{baseline.sentences_per_s[1] / best:>9.2f} {baseline.batch1_p50_ms:>8.2f} "
        f"{baseline.batch1_p99_ms:>8.2f} {'-':>6} {other['latency'].other_cores:>6.2f}"
    ]
    name = f"in-process batch {size}"
    rows.append(
        f"{name:<20} {'-':>5} {best:>8.1f} {1:>9.2f} {'-':>8} {'-':>8} {'-':>6} "
        f"{other[f'batch {size}'].other_cores:>6.2f}  best"
    )
    return rows


def _adjacent_cell(load: Load) -> str:
    if load.adjacent is None:
        return ""
    if load.connections == 1:
        return f"{load.p50_ms - better(load.adjacent, load.connections):+.2f} ms"
    return f"x {load.per_s / better(load.adjacent, load.connections):.2f}"


def _trial_rows(trial: Trial, best: float) -> list[str]:
    rows = [
        f"{trial.system:<20} {load.connections:>5} {load.per_s:>8.1f} {load.per_s / best:>9.2f} "
        f"{load.p50_ms:>8.2f} {load.p99_ms:>8.2f} {load.errors:>6} {load.other_cores:>6.2f} "
        f"{_adjacent_cell(load):>9}"
        for load in trial.loads
    ]
    if trial.error:
        rows.append(f"{trial.system:<20} failed: {trial.error.splitlines()[0]}")
    return rows


def table(baseline: Baseline, trials: list[Trial]) -> str:
    """System by concurrency: requests/s, its ratio to the in-process best, p50 and p99."""
    lines = [HEADER, "-" * len(HEADER), *_baseline_rows(baseline)]
    for trial in trials:
        lines += _trial_rows(trial, baseline.best_per_s)
    lines.append(
        "one sentence per request; conc: wrk connections; in-process rows: sentences/s, the "
        "best of a run before and one after the servers;\n"
        f"x in-proc: req/s over the in-process sentences/s at its best batch size "
        f"({baseline.best_batch}); other: CPU taken by work outside the benchmark, in cores;\n"
        "adjacent: against the better of two in-process runs just before and after the window "
        "(c=64: req/s over its sentences/s; c=1: p50 minus its batch-1 p50)"
    )
    return "\n".join(lines)


def engine_lines(engine: Baseline, trials: list[Trial]) -> str:
    """The model as Berth's runner runs it, called in-process (not a target: the targets are
    read against sentence-transformers in-process, as the peers run the model), and Berth's
    server over it: what serving costs Berth on its own engine."""
    lines = [
        f"in-process, Berth's engine (the runner called directly): batch 1 p50 "
        f"{engine.batch1_p50_ms:.2f} ms, {engine.best_per_s:.1f} sentences/s at batch "
        f"{engine.best_batch}"
    ]
    rate = _berth_load(trials, 64)
    berth = _find(trials, "berth")
    load1 = berth.at(1) if berth else None
    if rate is not None:
        lines.append(f"  berth at 64 over it: {rate / engine.best_per_s:.2f}")
    if load1 is not None:
        lines.append(
            f"  berth p50 at 1 over its batch-1 p50: {load1.p50_ms - engine.batch1_p50_ms:+.2f} ms"
        )
    return "\n".join(lines)


def _find(trials: list[Trial], system: str) -> Trial | None:
    return next((trial for trial in trials if trial.system == system), None)


def _berth_load(trials: list[Trial], connections: int) -> float | None:
    berth = _find(trials, "berth")
    load = berth.at(connections) if berth else None
    return load.per_s if load else None


def _share_target(baseline: Baseline, trials: list[Trial]) -> Target:
    goal = f">= {THROUGHPUT_SHARE} x in-process throughput at concurrency 64"
    rate = _berth_load(trials, 64)
    if rate is None:
        return Target("throughput_vs_in_process", goal, "Berth not measured at 64", None)
    share = rate / baseline.best_per_s
    measured = f"{rate:.1f} / {baseline.best_per_s:.1f} = {share:.2f}"
    return Target("throughput_vs_in_process", goal, measured, share >= THROUGHPUT_SHARE)


def _peer_rates(trials: list[Trial]) -> dict[str, float]:
    rates = {}
    for name in PEERS:
        trial = _find(trials, name)
        load = trial.at(64) if trial else None
        if load:
            rates[name] = load.per_s
    return rates


def _peer_target(trials: list[Trial]) -> Target:
    goal = f">= {PEER_MULTIPLE} x the better of LitServe and Infinity at concurrency 64"
    rate, peers = _berth_load(trials, 64), _peer_rates(trials)
    if rate is None or not peers:
        missing = "Berth not measured" if rate is None else "no peer measured"
        return Target("throughput_vs_peers", goal, f"{missing} at 64", None)
    best = max(peers, key=lambda name: peers[name])
    multiple = rate / peers[best]
    measured = f"{rate:.1f} / {peers[best]:.1f} ({best}) = {multiple:.2f}"
    return Target("throughput_vs_peers", goal, measured, multiple >= PEER_MULTIPLE)


def _latency_target(baseline: Baseline, trials: list[Trial]) -> Target:
    goal = f"p50 at concurrency 1 <= in-process batch-1 p50 + {LATENCY_MARGIN_MS:g} ms"
    berth = _find(trials, "berth")
    load = berth.at(1) if berth else None
    if load is None:
        return Target("latency_c1", goal, "Berth not measured at 1", None)
    extra = load.p50_ms - baseline.batch1_p50_ms
    measured = f"{load.p50_ms:.2f} - {baseline.batch1_p50_ms:.2f} = {extra:+.2f} ms"
    return Target("latency_c1", goal, measured, extra <= LATENCY_MARGIN_MS)


def _adjacent_ratio(trials: list[Trial], system: str) -> float | None:
    trial = _find(trials, system)
    load = trial.at(64) if trial else None
    if load is None or load.adjacent is None:
        return None
    return load.per_s / better(load.adjacent, load.connections)


def _adjacent_targets(trials: list[Trial]) -> list[Target]:
    """The three relative targets, each system read against the in-process runs around its
    own windows (see reference.py)."""
    share_goal = f">= {THROUGHPUT_SHARE} x in-process throughput at 64, adjacent runs"
    peer_goal = f">= {PEER_MULTIPLE} x the better peer at 64, each over its adjacent runs"
    latency_goal = f"p50 at 1 <= adjacent in-process batch-1 p50 + {LATENCY_MARGIN_MS:g} ms"
    share = _adjacent_ratio(trials, "berth")
    found = [
        Target("throughput_vs_in_process_adjacent", share_goal, "not measured", None)
        if share is None
        else Target(
            "throughput_vs_in_process_adjacent",
            share_goal,
            f"{share:.2f}",
            share >= THROUGHPUT_SHARE,
        )
    ]
    peers = {name: _adjacent_ratio(trials, name) for name in PEERS}
    measured = {name: ratio for name, ratio in peers.items() if ratio is not None}
    if share is None or not measured:
        found.append(Target("throughput_vs_peers_adjacent", peer_goal, "not measured", None))
    else:
        best = max(measured, key=lambda name: measured[name])
        multiple = share / measured[best]
        text = f"{share:.2f} / {measured[best]:.2f} ({best}) = {multiple:.2f}"
        found.append(
            Target("throughput_vs_peers_adjacent", peer_goal, text, multiple >= PEER_MULTIPLE)
        )
    berth = _find(trials, "berth")
    load = berth.at(1) if berth else None
    if load is None or load.adjacent is None:
        found.append(Target("latency_c1_adjacent", latency_goal, "not measured", None))
    else:
        reference = better(load.adjacent, 1)
        extra = load.p50_ms - reference
        text = f"{load.p50_ms:.2f} - {reference:.2f} = {extra:+.2f} ms"
        found.append(Target("latency_c1_adjacent", latency_goal, text, extra <= LATENCY_MARGIN_MS))
    return found


def _memory_target(trials: list[Trial]) -> Target:
    goal = f"idle `berth serve` (no model loaded) RSS < {IDLE_RSS_MB:g} MB"
    berth = _find(trials, "berth")
    if berth is None or berth.idle_rss is None:
        return Target("idle_rss", goal, "not measured", None)
    megabytes = berth.idle_rss / MB
    return Target("idle_rss", goal, f"{megabytes:.1f} MB", megabytes < IDLE_RSS_MB)


def targets(baseline: Baseline, trials: list[Trial]) -> list[Target]:
    """Every target of the issue, judged on this run."""
    return [
        _share_target(baseline, trials),
        _peer_target(trials),
        _latency_target(baseline, trials),
        *_adjacent_targets(trials),
        _memory_target(trials),
    ]


def target_lines(found: list[Target]) -> str:
    """One line per target: the goal, the figures, met or not."""
    verdict = {True: "met", False: "MISSED", None: "NOT MEASURED"}
    return "\n".join(f"target: Berth {t.goal}: {t.measured} -> {verdict[t.met]}" for t in found)


def trial_json(trial: Trial, baseline: Baseline) -> dict[str, Any]:
    """A system's figures as plain data, with the derived rates and ratios."""
    data = asdict(trial)
    for row, load in zip(data["loads"], trial.loads, strict=True):
        row["requests_per_s"] = load.per_s
        row["ratio_to_in_process"] = load.per_s / baseline.best_per_s
        if load.adjacent is not None and load.connections != 1:
            row["ratio_to_adjacent"] = load.per_s / better(load.adjacent, load.connections)
    return data


def baseline_json(baseline: Baseline) -> dict[str, Any]:
    """The in-process figures as plain data."""
    data = asdict(baseline)
    data["best_batch"] = baseline.best_batch
    data["best_sentences_per_s"] = baseline.best_per_s
    return data
