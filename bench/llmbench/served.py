"""Berth's side: a real ``berth serve`` on 127.0.0.1 with the model in a user catalog, and
streamed ``/v1/completions`` requests (greedy, ``ignore_eos``, exactly ``max_tokens``)."""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.httpbench.server import Launch, Server, free_port, running

from .sseclient import completion
from .workload import PROMPTS, Workload

ALIAS = "bench-lm"


def catalog(work: Workload) -> str:
    return (
        f'[models.{ALIAS}]\ntask = "complete"\nrunner = "transformers"\n'
        f'source = "local:{work.model_dir}"\n'
        f"[models.{ALIAS}.options]\nmax_batch_size = 8\nmax_wait_ms = 20\n"
        f'device = "cpu"\nrunner_options = {{ignore_eos = true}}\n'
    )


@contextmanager
def berth(work: Workload, log_dir: Path) -> Iterator[Server]:
    with tempfile.TemporaryDirectory(prefix="berth-llm-") as home:
        (Path(home) / "catalog.toml").write_text(catalog(work))
        port = free_port()
        env = {"BERTH_HOME": home, "BERTH_HOST": "127.0.0.1", "BERTH_PORT": str(port)}
        launch = Launch(
            "berth",
            [sys.executable, "-m", "berth", "serve"],
            port,
            "/readyz",
            120,
            env | {"BERTH_LOAD_WAIT_SECONDS": "120"},
        )
        with running(launch, log_dir) as server:
            server.wait_ready()
            yield server


async def one_stream(url: str, prompt: str, n: int) -> tuple[float, float, int]:
    """Seconds to the first text, to the end, and completion tokens of one streamed request."""
    body = {
        "model": ALIAS,
        "prompt": prompt,
        "max_tokens": n,
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    return await completion(url + "/v1/completions", body)


async def _row(url: str, streams: int, n: int) -> tuple[float, float, int]:
    if streams == 1:
        runs = [await one_stream(url, prompt, n) for prompt in PROMPTS[:3]]
        ttft = sorted(r[0] for r in runs)[1]
        return ttft, sum(r[1] for r in runs), sum(r[2] for r in runs)
    started = time.perf_counter()
    runs = await asyncio.gather(*(one_stream(url, p, n) for p in PROMPTS[:streams]))
    return min(r[0] for r in runs), time.perf_counter() - started, sum(r[2] for r in runs)


def one_round(server: Server, work: Workload, streams: int) -> dict[str, float]:
    """One round: aggregate tokens/s and time to first token (ms)."""
    ttft, seconds, made = asyncio.run(_row(server.launch.base_url, streams, work.max_tokens))
    expected = work.max_tokens * (3 if streams == 1 else streams)
    if made != expected:
        raise RuntimeError(f"Berth made {made} tokens, not {expected}")
    return {"tokens_per_s": made / seconds, "ttft_ms": ttft * 1000}


def warm(server: Server, work: Workload) -> None:
    """Load the model (the first request) and run one stream, outside the measurement."""
    asyncio.run(_row(server.launch.base_url, 1, work.max_tokens))
