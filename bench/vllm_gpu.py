"""The vllm runner for real, on a CUDA GPU with vLLM installed: loads a model folder through
Berth's runner (the real vLLM engine, its share of the GPU from --memory), checks that vLLM
keeps within that share, that greedy results in a batch equal one-by-one results, and that a
cancelled stream is aborted; then reports tokens/s and time to first token at 1 and N streams.

    .venv/bin/python bench/vllm_gpu.py --model ~/.berth/models/qwen2.5-0.5b-instruct/files
    .venv/bin/python bench/vllm_gpu.py --model PATH --memory 12GiB --streams 1 16

Without a GPU or without vllm it says which is missing and exits 0 having run nothing.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
PROMPTS = [
    "Write one sentence about the sea.",
    "Name three colours.",
    "What is the capital of France?",
    "Count from one to five.",
    "Describe a harbour at dawn.",
    "Say hello in French.",
    "What is two plus two?",
    "Give a synonym for quick.",
]


def _args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/vllm_gpu.py", description=__doc__)
    parser.add_argument("--model", type=Path, help="a model folder (config, weights, tokenizer)")
    parser.add_argument("--memory", default="8GiB", help="the entry's memory_estimate")
    parser.add_argument("--device", default="cuda:0")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--streams", type=int, nargs="+", default=[1, 8])
    return parser.parse_args(argv)


def missing() -> str | None:
    """Why this cannot run here, or None."""
    if importlib.util.find_spec("torch") is None:
        return "torch is not installed"
    import torch

    if not torch.cuda.is_available():
        return "no CUDA GPU is visible (torch.cuda.is_available() is false)"
    if importlib.util.find_spec("vllm") is None:
        return "vllm is not installed (pip install vllm, matching the machine's CUDA and torch)"
    return None


def run(argv: list[str]) -> int:
    args = _args(argv)
    reason = missing()
    if reason is not None:
        print(f"bench/vllm_gpu.py: skipped, {reason}. The vllm runner's Berth side is tested on")
        print("any machine by tests/integration/test_vllm_runner.py, over the engine's fake.")
        return 0
    if args.model is None or not args.model.is_dir():
        print("bench/vllm_gpu.py: --model must name a model folder (config, weights, tokenizer).")
        return 2
    import torch

    from berth.models.spec import ModelSpec
    from berth.runners.contract import pairs
    from berth.runners.vllm import VllmRunner
    from berth.tasks.generate import Generation, GenerationRequest

    spec = ModelSpec(
        alias="vllm-check",
        task="complete",
        runner="vllm",
        source=f"local:{args.model}",
        options={"memory_estimate": args.memory, "max_batch_size": max(args.streams)},
    )
    runner = VllmRunner()
    started = time.perf_counter()
    runner.load(spec, args.model, args.device)
    loaded_s = time.perf_counter() - started
    report: dict[str, Any] = {"load_s": loaded_s, "gpu_memory_utilization": runner.share}
    free, total = torch.cuda.mem_get_info(torch.device(args.device))
    report["memory_bytes"] = runner.memory_bytes()
    report["device_used_bytes"] = total - free
    report["within_share"] = (total - free) <= (runner.memory_bytes() or 0) * 1.05 + 2**30

    def greedy(prompt: str) -> GenerationRequest:
        return GenerationRequest(prompt=prompt, max_tokens=args.max_tokens, temperature=0)

    batch = [greedy(p) for p in PROMPTS]
    together = runner.run(batch)
    alone = [runner.run([request])[0] for request in batch]
    report["batch_equals_alone"] = together == alone
    left: set[int] = set()
    seen = 0
    for index, chunk in pairs(runner.stream(batch[:2], left.__contains__)):
        if index == 0:
            seen += 1
            if seen == 2:
                left.add(0)
        if index == 0 and isinstance(chunk, Generation):
            report["cancel_stopped"] = False
    report.setdefault("cancel_stopped", True)
    report["rows"] = {str(n): _row(runner, [greedy(p) for p in PROMPTS[:n]]) for n in args.streams}
    runner.close()
    print(json.dumps(report, indent=2))
    checks = ("within_share", "batch_equals_alone", "cancel_stopped")
    return 0 if all(report[name] for name in checks) else 1


def _row(runner: Any, batch: list[Any]) -> dict[str, float]:
    from berth.runners.contract import pairs
    from berth.tasks.generate import Generation, TextDelta

    rounds = []
    for _ in range(3):
        started, first, made = time.perf_counter(), 0.0, 0
        for _, chunk in pairs(runner.stream(batch)):
            if isinstance(chunk, TextDelta) and not first:
                first = time.perf_counter()
            elif isinstance(chunk, Generation):
                made += chunk.completion_tokens
        seconds = time.perf_counter() - started
        rounds.append({"tokens_per_s": made / seconds, "ttft_ms": (first - started) * 1000})
    return {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}


def main() -> int:
    sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != BENCH_DIR]
    sys.path.insert(0, str(BENCH_DIR.parent))
    return run(sys.argv[1:])


if __name__ == "__main__":
    raise SystemExit(main())
