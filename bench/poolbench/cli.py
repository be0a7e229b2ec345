"""Command line and order of the measurements."""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import sys

from bench.poolbench import direct, pooled, report
from bench.queuebench.machine import berth_revision, describe, load_average

BATCH_SIZES = (1, 8, 16, 32, 64, 128)
CALLERS = (1, 8, 32, 64)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/pool.py", description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each window")
    parser.add_argument("--rounds", type=int, default=4, help="windows per row")
    parser.add_argument("--warmup", type=float, default=0.5, help="unmeasured start of a window")
    parser.add_argument("--quick", action="store_true", help="1 round of 1 s: a smoke run")
    return parser.parse_args(argv)


def run(argv: list[str]) -> int:
    args = parse(argv)
    seconds, rounds = (1.0, 1) if args.quick else (args.seconds, args.rounds)
    load_before = load_average()
    print("memory: a fresh process holding the model directly ...", file=sys.stderr)
    direct_rss = direct.fresh_process_rss()
    print("direct: the model in this process, by batch size ...", file=sys.stderr)
    model = direct.load_model()
    rates = direct.sweep(model, BATCH_SIZES, rounds, seconds)
    best = max(rates, key=lambda size: rates[size])
    print("pool: cold load, then concurrent callers ...", file=sys.stderr)
    cold = pooled.measure_cold(best)
    baseline = functools.partial(direct.throughput, model, best, seconds)
    rows = pooled.measure(best, CALLERS, baseline, rounds, args.warmup, seconds)
    print("pool: online calls while a job saturates the model ...", file=sys.stderr)
    busy = pooled.measure_saturated(best, 20 if args.quick else 60)
    lines, verdict = report.targets(rates, best, rows, cold, direct_rss)
    print("\n".join(report.table(rates, best, rows)))
    print("\n".join(report.saturated_table(busy, cold)))
    print("\n".join(lines))
    figures = report.summary(
        date=dt.date.today().isoformat(),
        machine=describe(),
        berth_revision=berth_revision(),
        load_average={"before": load_before, "after": load_average()},
        seconds_per_window=seconds,
        rounds=rounds,
        direct={str(size): rate for size, rate in rates.items()},
        best_batch_size=best,
        pool=rows,
        cold=cold,
        saturated=busy,
        direct_process_rss=direct_rss,
        verdict=verdict,
    )
    print(json.dumps(figures))
    return 0 if all(verdict["met"].values()) else 1
