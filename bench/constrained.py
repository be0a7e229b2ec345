"""Constrained decoding's cost per token: the ``transformers`` runner at 8 streams with every
stream under a JSON-schema grammar (xgrammar, a matcher per stream) against the same 8
streams free, on the LLM benchmark's model.

    .venv/bin/python bench/constrained.py                 # under a minute
    .venv/bin/python bench/constrained.py --rounds 3 --max-tokens 32   # smoke run

See bench/README.md for what is measured and the latest results.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
SCHEMA = {
    "type": "array",
    "items": {"type": "integer", "minimum": 0, "maximum": 999},
    "minItems": 10000,
}
"""Numbers without end within the token limit: every stream runs exactly ``max_tokens``
steps on both sides, so each step's cost compares like with like."""


def main() -> int:
    sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != BENCH_DIR]
    sys.path.insert(0, str(BENCH_DIR.parent))
    from bench.llmbench.workload import PROMPTS, build

    from berth.models.spec import ModelSpec
    from berth.runners.causal_lm import CausalLMRunner
    from berth.tasks.generate import ChatMessage, GenerationRequest, JsonGrammar

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--streams", type=int, default=8)
    args = parser.parse_args()
    work = build(Path(tempfile.gettempdir()) / "berth-llmbench-model", args.max_tokens)
    spec = ModelSpec(
        alias="bench",
        task="chat",
        runner="transformers",
        source=f"local:{work.model_dir}",
        options={"max_batch_size": args.streams, "runner_options": {"ignore_eos": True}},
    )
    runner = CausalLMRunner()
    runner.load(spec, work.model_dir, "cpu")
    grammar = JsonGrammar(json.dumps(SCHEMA))

    def batch(constrained: bool) -> list[GenerationRequest]:
        return [
            GenerationRequest(
                messages=(ChatMessage("user", PROMPTS[i % len(PROMPTS)]),),
                max_tokens=args.max_tokens,
                temperature=0,
                grammar=grammar if constrained else None,
            )
            for i in range(args.streams)
        ]

    def per_token_ms(constrained: bool) -> float:
        started = time.perf_counter()
        outputs = runner.run(batch(constrained))
        elapsed = time.perf_counter() - started
        tokens = sum(output.completion_tokens for output in outputs)
        assert tokens == args.streams * args.max_tokens, tokens
        return 1000 * elapsed / tokens

    per_token_ms(True)
    per_token_ms(False)  # warm-up: compile the grammar, fill the allocator
    load_before = os.getloadavg()[0]
    free, constrained, ratios = [], [], []
    for _ in range(args.rounds):
        free.append(per_token_ms(False))
        constrained.append(per_token_ms(True))
        ratios.append(constrained[-1] / free[-1])
    figures = {
        "streams": args.streams,
        "max_tokens": args.max_tokens,
        "rounds": args.rounds,
        "free_ms_per_token": statistics.median(free),
        "constrained_ms_per_token": statistics.median(constrained),
        "ratio": statistics.median(ratios),
        "ratio_of_medians": statistics.median(constrained) / statistics.median(free),
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
    }
    print(f"{'side':<12} {'ms/token':>9}")
    print(f"{'free':<12} {figures['free_ms_per_token']:>9.3f}")
    print(f"{'constrained':<12} {figures['constrained_ms_per_token']:>9.3f}")
    print(f"constrained / free (median of rounds' ratios): {figures['ratio']:.3f}")
    print(f"constrained / free (ratio of the medians):     {figures['ratio_of_medians']:.3f}")
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
