"""LLM engines side by side on one GGUF file: Berth's llama-cpp runner (through ``berth
serve``) against llama-cpp-python's own OpenAI server (``python -m llama_cpp.server``; where its
dependencies are missing, its ``Llama`` in this process, as that server runs it: one request at
a time), and against Berth's transformers runner on the same weights. Tokens/s at 1 and 8
streams and time to first token; ratios per round, the sides taking turns.

    scripts/bootstrap dev llama && .venv/bin/python bench/llm_engines.py     # a few minutes
    .venv/bin/python bench/llm_engines.py --rounds 1 --max-tokens 16          # smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
TARGET = 0.95


def _args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/llm_engines.py", description=__doc__)
    parser.add_argument("--max-tokens", type=int, default=64, help="tokens per stream")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per row, sides in turn")
    parser.add_argument("--streams", type=int, nargs="+", default=[1, 8])
    return parser.parse_args(argv)


def run(argv: list[str]) -> int:
    from bench.llmbench import engines
    from bench.llmbench.workload import build
    from bench.queuebench.machine import berth_revision
    from tests.tiny.gguf import build_gguf

    args = _args(argv)
    out = Path("bench/out/llm_engines") / time.strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    work = build(Path(tempfile.gettempdir()) / "berth-bench-lm-256x4", args.max_tokens)
    gguf = build_gguf(work.model_dir, work.model_dir.parent / "berth-bench-gguf" / "lm.gguf")
    most = max(args.streams)
    with ExitStack() as stack:
        gguf_server = stack.enter_context(
            engines.berth(engines.gguf_catalog(gguf, most), out, "berth-llama-cpp")
        )
        torch_server = stack.enter_context(
            engines.berth(engines.transformers_catalog(work, most), out, "berth-transformers")
        )
        sides: dict[str, Any] = {
            "berth llama-cpp": engines.Streams(gguf_server.launch.base_url, True, work.max_tokens),
            "berth transformers": engines.Streams(
                torch_server.launch.base_url, True, work.max_tokens
            ),
        }
        if engines.server_available():
            own = stack.enter_context(engines.llama_cpp_server(gguf, out))
            sides["llama-cpp-python"] = engines.Streams(own.launch.base_url, False, work.max_tokens)
            baseline = "llama-cpp-python's server (python -m llama_cpp.server), streamed"
        else:
            sides["llama-cpp-python"] = engines.InProcess(gguf, work.max_tokens)
            stack.callback(sides["llama-cpp-python"].close)
            baseline = (
                "llama-cpp-python's Llama in-process, one request at a time (its server "
                "cannot start here: starlette_context is not installed)"
            )
        rounds = _measure(sides, args)
    rows = {side: {s: _summary(r) for s, r in by.items()} for side, by in rounds.items()}
    ratios = {
        "vs llama-cpp-python": _ratios(rounds, "berth llama-cpp", "llama-cpp-python"),
        "vs transformers": _ratios(rounds, "berth llama-cpp", "berth transformers"),
    }
    _table(rows, ratios)
    report = {
        "rows": rows,
        "ratios": ratios,
        "ratio": "median over rounds of tokens/s of berth llama-cpp over the other side",
        "target": f"{TARGET} of llama-cpp-python at {most} streams, ttft no worse",
        "met": ratios["vs llama-cpp-python"][str(most)] >= TARGET,
        "baseline": baseline,
        "settings": vars(args) | {"hidden": work.hidden, "layers": work.layers},
        "machine": {"cpus": os.cpu_count(), "load_average": os.getloadavg()},
        "berth_revision": berth_revision(),
    }
    (out / "result.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report))
    return 0


def _measure(sides: dict[str, Any], args: argparse.Namespace) -> dict[str, dict[str, list[Any]]]:
    rounds: dict[str, dict[str, list[Any]]] = {side: {} for side in sides}
    for side in sides.values():
        side.round(1)  # loads the model and warms it, outside the measurement
    for streams in args.streams:
        for by in rounds.values():
            by[str(streams)] = []
        for _ in range(args.rounds):
            for name, side in sides.items():
                rounds[name][str(streams)].append(side.round(streams))
    return rounds


def _ratios(rounds: dict[str, dict[str, list[Any]]], mine: str, other: str) -> dict[str, float]:
    return {
        streams: statistics.median(
            a["tokens_per_s"] / b["tokens_per_s"]
            for a, b in zip(rounds[mine][streams], rounds[other][streams], strict=True)
        )
        for streams in rounds[mine]
    }


def _summary(rounds: list[dict[str, float]]) -> dict[str, float]:
    """Medians over the rounds (``mean_ttft_ms``: the streams' mean time to first token, for
    several streams)."""
    return {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}


def _table(
    rows: dict[str, dict[str, dict[str, float]]], ratios: dict[str, dict[str, float]]
) -> None:
    print(f"{'side':20} {'streams':>7} {'tokens/s':>9} {'ttft ms':>8}")
    print("-" * 48)
    for side, by in rows.items():
        for streams, figures in by.items():
            print(
                f"{side:20} {streams:>7} {figures['tokens_per_s']:9.1f} {figures['ttft_ms']:8.1f}"
            )
    for name, by in ratios.items():
        print(
            f"berth llama-cpp {name}: " + ", ".join(f"{s} streams x{r:.2f}" for s, r in by.items())
        )


def main() -> int:
    # Run as a script, this folder heads sys.path and bench/queue.py would shadow ``queue``.
    sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != BENCH_DIR]
    sys.path.insert(0, str(BENCH_DIR.parent))
    return run(sys.argv[1:])


if __name__ == "__main__":
    raise SystemExit(main())
