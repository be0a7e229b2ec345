"""Runs the benchmark and prints the table and the final JSON line."""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

from bench.queuebench.machine import berth_revision

from . import served
from .direct import Direct
from .workload import build

TARGET = 0.9


def _args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/llm.py", description=__doc__)
    parser.add_argument("--max-tokens", type=int, default=64, help="tokens per stream")
    parser.add_argument(
        "--rounds", type=int, default=9, help="rounds per row; each runs both sides, in turn"
    )
    parser.add_argument("--streams", type=int, nargs="+", default=[1, 8])
    return parser.parse_args(argv)


Round = dict[str, float]


def run(argv: list[str]) -> int:
    args = _args(argv)
    out = Path("bench/out/llm") / time.strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    work = build(Path(tempfile.gettempdir()) / "berth-bench-lm-256x4", args.max_tokens)
    load_before = os.getloadavg()[0]
    direct = Direct(work)
    rounds: dict[str, dict[str, list[Round]]] = {"direct": {}, "berth": {}}
    with served.berth(work, out) as server:
        served.warm(server, work)
        for streams in args.streams:
            direct.one_round(streams)
            key = str(streams)
            rounds["direct"][key], rounds["berth"][key] = [], []
            # The sides take turns, round by round, so that a change in the machine's speed
            # (a shared VM's neighbours, frequency scaling) falls on both alike.
            for _ in range(args.rounds):
                rounds["direct"][key].append(direct.one_round(streams))
                rounds["berth"][key].append(served.one_round(server, work, streams))
    rows = {side: {s: _summary(r) for s, r in by.items()} for side, by in rounds.items()}
    ratios = {
        s: statistics.median(
            b["tokens_per_s"] / d["tokens_per_s"]
            for d, b in zip(rounds["direct"][s], rounds["berth"][s], strict=True)
        )
        for s in rounds["berth"]
    }
    _table(rows, ratios)
    print(
        json.dumps(
            {
                "rows": rows,
                "ratios": ratios,
                "ratio": "median over rounds of berth/direct tokens/s, the sides run in turn",
                "target": TARGET,
                "met": all(r >= TARGET for r in ratios.values()),
                "settings": vars(args) | {"hidden": work.hidden, "layers": work.layers},
                "direct_at_8": "one batched generate of 8 prompts (left-padded)",
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                "load_average": [load_before, os.getloadavg()[0]],
                "berth_revision": berth_revision(),
            }
        )
    )
    return 0


def _summary(rounds: list[Round]) -> dict[str, float]:
    """Median and best tokens/s of a row's rounds, and the median time to first token."""
    rates = [r["tokens_per_s"] for r in rounds]
    return {
        "tokens_per_s": statistics.median(rates),
        "best_tokens_per_s": max(rates),
        "ttft_ms": statistics.median(r["ttft_ms"] for r in rounds),
    }


def _table(rows: dict[str, dict[str, dict[str, float]]], ratios: dict[str, float]) -> None:
    print(f"{'side':8} {'streams':>7} {'tokens/s':>9} {'best':>8} {'ttft ms':>8} {'x direct':>8}")
    print("-" * 53)
    for side, by_streams in rows.items():
        for streams, figures in by_streams.items():
            ratio = f"{ratios[streams]:.2f}" if side == "berth" else "-"
            print(
                f"{side:8} {streams:>7} {figures['tokens_per_s']:9.1f} "
                f"{figures['best_tokens_per_s']:8.1f} {figures['ttft_ms']:8.1f} {ratio:>8}"
            )
    print("tokens/s and ttft: medians over the rounds; x direct: median of the rounds' ratios")
    print("direct: HF generate in-process (1 stream: one prompt at a time; 8: one batched")
    print("generate of 8 prompts); berth: streamed /v1/completions through berth serve")
