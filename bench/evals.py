"""Eval benchmark: samples per second of an eval run through Berth (an ``eval`` job: each
sample generated in the pool's background lane, graded, recorded) against the same prompts
sent straight to the pool (the same lane, 32 at once as the job keeps them) and against the
plain loop over the HTTP API a user would write by hand (the official ``openai`` client, one
request after another), on a small Llama built here (random weights, CPU).

It also reads how full the model's batches were in each (``berth_batch_size``: inputs per
batch the batcher sent): an eval should keep the batcher as full as the direct calls do.
Prints a table, then one JSON object with every figure as its last line::

    .venv/bin/python bench/evals.py            # 256 samples
    .venv/bin/python bench/evals.py --quick    # 64 samples
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
MAX_TOKENS = 8
IN_FLIGHT = 32
ALIAS = "tiny-lm"
CRITERION = {"type": "string_check", "name": "said", "input": "{{sample.output_text}}",
             "reference": "x", "operation": "ne"}  # fmt: skip
TEMPLATE = {"role": "user", "content": "{{item.q}}"}


def _batches(alias: str) -> tuple[float, float]:
    """(sum, count) of the batch sizes observed so far for ``alias``."""
    from berth import metrics

    total = count = 0.0
    for metric in metrics.batch_size.collect():
        for sample in metric.samples:
            if sample.labels.get("model") != alias:
                continue
            if sample.name.endswith("_sum"):
                total = sample.value
            elif sample.name.endswith("_count"):
                count = sample.value
    return total, count


class Batches:
    """The mean batch size over a span of work."""

    def __enter__(self) -> Batches:
        self.start = _batches(ALIAS)
        return self

    def __exit__(self, *_: object) -> None:
        end = _batches(ALIAS)
        sent = end[1] - self.start[1]
        self.mean = (end[0] - self.start[0]) / sent if sent else 0.0


def prompts(count: int) -> list[str]:
    return [f"Question {i}: what comes after {i}?" for i in range(count)]


async def direct(berth: Any, texts: list[str]) -> tuple[float, float]:
    """The prompts straight to the pool (background lane), IN_FLIGHT at once."""
    from berth.tasks.generate import GENERATE, ChatMessage, GenerationRequest

    calls = berth.services.inference.calls(None, background=True)
    gate = asyncio.Semaphore(IN_FLIGHT)

    async def one(text: str) -> None:
        request = GenerationRequest(messages=(ChatMessage("user", text),), max_tokens=MAX_TOKENS,
                                    temperature=0)  # fmt: skip
        async with gate:
            await calls.run(ALIAS, GENERATE, [request])

    with Batches() as seen:
        started = time.perf_counter()
        await asyncio.gather(*(one(text) for text in texts))
        took = time.perf_counter() - started
    return len(texts) / took, seen.mean


async def through_berth(berth: Any, texts: list[str]) -> tuple[float, float]:
    """The prompts as one eval run (an ``eval`` job), from queueing it to its end."""
    evals = berth.services.evals
    made = await evals.create(
        None,
        data_source_config={"type": "custom", "item_schema": {"type": "object"}},
        testing_criteria=[CRITERION],
    )
    source = {
        "type": "completions",
        "model": ALIAS,
        "source": {"type": "file_content", "content": [{"item": {"q": t}} for t in texts]},
        "input_messages": {"type": "template", "template": [TEMPLATE]},
        "sampling_params": {"temperature": 0, "max_completion_tokens": MAX_TOKENS},
    }  # fmt: skip
    with Batches() as seen:
        started = time.perf_counter()
        run = await evals.create_run(None, made.id, data_source=source)
        await berth.services.jobs.follow(None, run.job_id, poll_seconds=0.02)
        took = time.perf_counter() - started
    current = await evals.get_run(None, made.id, run.id)
    assert current.result_counts.total == len(texts), current
    return len(texts) / took, seen.mean


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def http_loop(url: str, texts: list[str]) -> float:
    """The loop a user writes: one chat completion after another through the HTTP API."""
    import openai

    client = openai.OpenAI(base_url=f"{url}/v1", api_key="none", max_retries=0)
    started = time.perf_counter()
    for text in texts:
        client.chat.completions.create(model=ALIAS, max_tokens=MAX_TOKENS, temperature=0,
                                       messages=[{"role": "user", "content": text}])  # fmt: skip
    return len(texts) / (time.perf_counter() - started)


async def over_http(berth: Any, texts: list[str]) -> tuple[float, float]:
    import uvicorn

    from berth.site import create_app

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(berth), host="127.0.0.1", port=port,
                                           log_level="warning"))  # fmt: skip
    serving = asyncio.create_task(server.serve())
    for _ in range(600):
        if server.started:
            break
        await asyncio.sleep(0.05)
    try:
        with Batches() as seen:
            rate = await asyncio.to_thread(http_loop, f"http://127.0.0.1:{port}", texts)
    finally:
        server.should_exit = True
        await serving
    return rate, seen.mean


async def bench(count: int) -> dict[str, Any]:
    from tests.tiny.causal_lm import build_causal_lm

    from berth.app import Berth
    from berth.settings import Settings

    with tempfile.TemporaryDirectory() as home_dir:
        home = Path(home_dir)
        model = build_causal_lm(home / "tiny-causal-lm", hidden=128, layers=4)
        (home / "catalog.toml").write_text(
            f'[models.{ALIAS}]\ntask = "chat"\nrunner = "transformers"\nsource = "local:{model}"\n'
            f"[models.{ALIAS}.options]\nmax_batch_size = {IN_FLIGHT}\n"
        )
        texts = prompts(count)
        settings = Settings(home=home, poll_seconds=0.05)
        async with Berth(settings) as berth, berth.dispatcher():
            await direct(berth, texts[:IN_FLIGHT])
            pool_rate, pool_batch = await direct(berth, texts)
            eval_rate, eval_batch = await through_berth(berth, texts)
            http_rate, http_batch = await over_http(berth, texts)
    return {
        "samples": count,
        "max_tokens": MAX_TOKENS,
        "pool_samples_per_s": round(pool_rate, 2),
        "eval_samples_per_s": round(eval_rate, 2),
        "http_loop_samples_per_s": round(http_rate, 2),
        "eval_vs_pool": round(eval_rate / pool_rate, 3),
        "eval_vs_http_loop": round(eval_rate / http_rate, 3),
        "mean_batch_pool": round(pool_batch, 2),
        "mean_batch_eval": round(eval_batch, 2),
        "mean_batch_http_loop": round(http_batch, 2),
    }


def table(found: dict[str, Any]) -> str:
    rows = [
        ("straight to the pool", found["pool_samples_per_s"], found["mean_batch_pool"], 1.0),
        ("eval run (eval job)", found["eval_samples_per_s"], found["mean_batch_eval"],
         found["eval_vs_pool"]),
        ("HTTP loop by hand", found["http_loop_samples_per_s"], found["mean_batch_http_loop"],
         round(found["http_loop_samples_per_s"] / found["pool_samples_per_s"], 3)),
    ]  # fmt: skip
    lines = [f"{'path':<24} {'samples/s':>10} {'mean batch':>11} {'vs pool':>8}"]
    lines += [f"{name:<24} {rate:>10} {batch:>11} {ratio:>8}" for name, rate, batch, ratio in rows]
    return "\n".join(lines)


def main() -> int:
    sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != BENCH_DIR]
    sys.path.insert(0, str(BENCH_DIR.parent))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="64 samples instead of 256")
    parser.add_argument("--samples", type=int, default=None)
    args = parser.parse_args()
    count = args.samples or (64 if args.quick else 256)
    found = asyncio.run(bench(count))
    print(table(found))
    print(json.dumps(found))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
