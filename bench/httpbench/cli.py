"""``bench/http_embeddings.py``: parse the flags, measure each system, print table and JSON."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from bench.queuebench.machine import describe, load_average

from . import infinity_env, inprocess, launches
from .contention import Patience
from .corpus import write_bodies
from .errors import SetupFailed
from .inprocess import Baseline, Effort
from .launches import Choices
from .provenance import versions
from .reference import WINDOW_S, Reference
from .report import baseline_json, engine_lines, table, target_lines, targets, trial_json
from .server import OFFLINE_ENV, Launch, free_port
from .trial import Pace, Trial, measure

REPO_ROOT = Path(__file__).resolve().parents[2]
OUT = REPO_ROOT / "bench" / "out"
LAUNCHES: dict[str, Callable[[int, Choices], Launch]] = {
    "berth": launches.berth,
    "berth-torch": launches.berth_torch,
    "litserve": launches.litserve,
    "infinity": launches.infinity,
    "infinity-compile": launches.infinity_compile,
}
NEEDS_INFINITY = {"infinity", "infinity-compile"}


@dataclass(frozen=True, slots=True)
class Plan:
    """What the flags ask for."""

    systems: tuple[str, ...]
    pace: Pace
    effort: Effort
    litserve_batch_timeout_s: float
    budget_s: float
    reference_s: float
    """Seconds of each in-process run next to a window (see reference.py)."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bench/http_embeddings.py",
        description="Embeddings over HTTP, one sentence per request: Berth next to LitServe and "
        "Infinity, and the model called in-process. See bench/README.md.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add = parser.add_argument
    add("--quick", action="store_true", help="smoke run: 3 s per concurrency, short baseline")
    add("--duration", type=float, help="measured seconds per concurrency (10; quick 3)")
    add("--warmup", type=float, help="discarded seconds before each (2; quick 1)")
    add("--concurrency", default="1,8,32,64", help="wrk connections, one run each")
    add("--systems", default=",".join(LAUNCHES), help="which servers to run")
    add("--tries", type=int, default=3, help="runs at most per window while disturbed")
    add("--max-other-cores", type=float, default=0.25, help="outside load that disturbs")
    add("--quiet-wait", type=float, default=20.0, help="seconds to wait for quiet per try")
    add("--litserve-batch-timeout-ms", type=float, default=5.0, help="LitServe batch_timeout")
    add("--timeout", type=float, default=2400.0, help="seconds for the run; later systems skip")
    return parser


def _names(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def plan_from(args: argparse.Namespace) -> Plan:
    """The plan the flags describe."""
    quick: bool = args.quick
    patience = Patience(args.tries, args.max_other_cores, args.quiet_wait)
    pace = Pace(
        concurrencies=tuple(int(n) for n in _names(args.concurrency)),
        warmup_s=args.warmup if args.warmup is not None else (1.0 if quick else 2.0),
        duration_s=args.duration if args.duration is not None else (3.0 if quick else 10.0),
        patience=patience,
    )
    effort = Effort(
        latency_s=3.0 if quick else 10.0,
        batch_s=1.0 if quick else 3.0,
        patience=patience,
    )
    return Plan(
        systems=_names(args.systems),
        pace=pace,
        effort=effort,
        litserve_batch_timeout_s=args.litserve_batch_timeout_ms / 1000,
        budget_s=args.timeout,
        reference_s=1.0 if quick else WINDOW_S,
    )


def _infinity_python(plan: Plan, scratch: Path) -> tuple[Path | None, str | None]:
    if not NEEDS_INFINITY & set(plan.systems):
        return None, None
    try:
        return infinity_env.ensure(OUT / "infinity-venv", scratch / "infinity-install.log"), None
    except SetupFailed as exc:
        return None, f"{type(exc).__name__}: {exc}"


def _measure_all(
    plan: Plan, choices: Choices, setup_error: str | None, best_batch: int
) -> list[Trial]:
    bodies = write_bodies(choices.scratch / "bodies.jsonl")
    deadline = time.monotonic() + plan.budget_s
    reference = Reference(best_batch, plan.reference_s)
    trials = []
    try:
        for name in plan.systems:
            if name in NEEDS_INFINITY and setup_error:
                trials.append(Trial(name, error=setup_error))
            elif time.monotonic() > deadline:
                trials.append(Trial(name, error=f"skipped: the run's {plan.budget_s:g} s ran out"))
            else:
                launch = LAUNCHES[name](free_port(), choices)
                trials.append(measure(launch, bodies, plan.pace, choices.scratch, reference))
    finally:
        reference.close()
    return trials


def _in_process(plan: Plan, when: str, berth_engine: bool = False) -> Baseline:
    how = " as Berth's runner runs it" if berth_engine else ""
    print(f"measuring the model in-process{how}, {when} ...", file=sys.stderr, flush=True)
    return inprocess.measure(plan.effort, berth_engine)


def _summary(plan: Plan, baseline: Baseline, trials: list[Trial], head: dict[str, Any]) -> Any:
    found = targets(baseline, trials)
    settings = asdict(plan) | {"max_batch_size": launches.MAX_BATCH_SIZE, "wrk_threads": 1}
    return head | {
        "machine": head["machine"] | {"load_after": load_average()},
        "settings": settings,
        "in_process": baseline_json(baseline),
        "results": [trial_json(trial, baseline) for trial in trials],
        "targets": [asdict(target) for target in found],
    }


def _head(argv: Sequence[str], infinity_python: Path | None, setup_error: str | None) -> Any:
    return {
        "benchmark": "bench/http_embeddings.py",
        "command": " ".join([".venv/bin/python bench/http_embeddings.py", *argv]),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": describe() | {"load_before": load_average()},
        "versions": versions(infinity_python),
        "infinity_setup_error": setup_error,
    }


def _machine_line(summary: Any) -> str:
    machine, revision = summary["machine"], summary["versions"]["berth_revision"]
    return (
        f"{summary['date']}  berth {revision}  {machine['cores']} cores, "
        f"{machine['memory_gib']} GiB, {machine['cpu']}, python {machine['python']}, "
        f"load {machine['load_before']} -> {machine['load_after']}"
    )


def _execute(plan: Plan, argv: Sequence[str], scratch: Path) -> int:
    infinity_python, setup_error = _infinity_python(plan, scratch)
    head = _head(argv, infinity_python, setup_error)
    before = _in_process(plan, "before the servers")
    choices = Choices(plan.litserve_batch_timeout_s, infinity_python, scratch)
    trials = _measure_all(plan, choices, setup_error, before.best_batch)
    after = _in_process(plan, "after the servers")
    engine = _in_process(plan, "after the servers", berth_engine=True)
    baseline = inprocess.best_of([before, after])
    summary = _summary(plan, baseline, trials, head)
    summary["in_process_runs"] = [baseline_json(before), baseline_json(after)]
    summary["in_process_berth_engine"] = baseline_json(engine)
    print(table(baseline, trials))
    print(engine_lines(engine, trials))
    print(target_lines(targets(baseline, trials)))
    print(_machine_line(summary))
    print(json.dumps(summary))
    return 1 if any(trial.error for trial in trials) else 0


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    # SystemExit unwinds through every `running(...)` block, so the servers get stopped.
    raise SystemExit(128 + signum)


def _check(plan: Plan) -> str | None:
    unknown = set(plan.systems) - set(LAUNCHES)
    if unknown:
        return f"Unknown systems: {', '.join(sorted(unknown))}. Known: {', '.join(LAUNCHES)}."
    if shutil.which("wrk") is None:
        return "wrk is not installed. Install it with `apt-get install wrk`."
    return None


def run(argv: Sequence[str]) -> int:
    """Run the benchmark; 0 if every system was measured."""
    plan = plan_from(_parser().parse_args(argv))
    problem = _check(plan)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    os.environ.update(OFFLINE_ENV)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    scratch = OUT / "http_embeddings" / dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    scratch.mkdir(parents=True, exist_ok=True)
    print(f"logs and scratch files: {scratch}", file=sys.stderr, flush=True)
    return _execute(plan, argv, scratch)
