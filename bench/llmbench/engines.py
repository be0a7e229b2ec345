"""The engines side by side on one GGUF file: Berth's llama-cpp runner through ``berth serve``,
llama-cpp-python's own OpenAI server (``python -m llama_cpp.server``, where its dependencies
are installed) or else its ``Llama`` in this process (what that server runs, one request at a
time), and Berth's transformers runner on the same weights."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.httpbench.server import Launch, Server, free_port, running

from .sseclient import completion
from .workload import PROMPTS, Workload

ALIAS = "bench-lm"
THREADS = max(1, (os.cpu_count() or 1) // 2)
"""Both llama.cpp sides compute with this many threads (the runner's default)."""


def gguf_catalog(gguf: Path, streams: int) -> str:
    return (
        f'[models.{ALIAS}]\ntask = "complete"\nrunner = "llama-cpp"\n'
        f'source = "local:{gguf.parent}"\nfiles = ["{gguf.name}"]\n'
        f"[models.{ALIAS}.options]\nmax_batch_size = {streams}\nmax_wait_ms = 5\n"
        f'device = "cpu"\nrunner_options = {{ignore_eos = true, parallel = {streams}, '
        f"threads = {THREADS}, n_ctx = 512}}\n"
    )


def transformers_catalog(work: Workload, streams: int) -> str:
    return (
        f'[models.{ALIAS}]\ntask = "complete"\nrunner = "transformers"\n'
        f'source = "local:{work.model_dir}"\n'
        f"[models.{ALIAS}.options]\nmax_batch_size = {streams}\nmax_wait_ms = 20\n"
        f'device = "cpu"\nrunner_options = {{ignore_eos = true}}\n'
    )


@contextmanager
def berth(catalog: str, log_dir: Path, name: str) -> Iterator[Server]:
    with tempfile.TemporaryDirectory(prefix="berth-engines-") as home:
        (Path(home) / "catalog.toml").write_text(catalog)
        port = free_port()
        env = {"BERTH_HOME": home, "BERTH_HOST": "127.0.0.1", "BERTH_PORT": str(port)}
        launch = Launch(
            name,
            [sys.executable, "-m", "berth", "serve"],
            port,
            "/readyz",
            120,
            env | {"BERTH_LOAD_WAIT_SECONDS": "120"},
        )
        with running(launch, log_dir) as server:
            server.wait_ready()
            yield server


def server_available() -> bool:
    """Whether ``python -m llama_cpp.server`` can start here (its extra's packages)."""
    needed = ("llama_cpp", "starlette_context", "sse_starlette", "pydantic_settings", "uvicorn")
    return all(importlib.util.find_spec(name) is not None for name in needed)


@contextmanager
def llama_cpp_server(gguf: Path, log_dir: Path) -> Iterator[Server]:
    port = free_port()
    argv = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf)]
    argv += ["--model_alias", ALIAS, "--n_ctx", "512", "--n_threads", str(THREADS)]
    # By default the server cuts a running stream off when the next request comes; queued,
    # every stream runs to its end, as a user's concurrent requests would want.
    argv += ["--interrupt_requests", "false", "--host", "127.0.0.1", "--port", str(port)]
    launch = Launch("llama-cpp-python-server", argv, port, "/v1/models", 120)
    with running(launch, log_dir) as server:
        server.wait_ready()
        yield server


class Streams:
    """Streamed completions over HTTP: Berth's (the lean client) or llama-cpp-python's
    server (httpx, since its events end lines with CRLF)."""

    def __init__(self, url: str, lean: bool, n: int) -> None:
        self.url, self.lean, self.n = url + "/v1/completions", lean, n

    async def one(self, prompt: str) -> tuple[float, float, int]:
        body: dict[str, Any] = {
            "model": ALIAS,
            "prompt": prompt,
            "max_tokens": self.n,
            "temperature": 0,
            "stream": True,
        }
        if self.lean:
            body["stream_options"] = {"include_usage": True}
            return await completion(self.url, body)
        return await self._httpx(body)

    async def _httpx(self, body: dict[str, Any]) -> tuple[float, float, int]:
        import httpx

        body["logit_bias"] = {}
        started, first, pieces = time.perf_counter(), 0.0, 0
        async with (
            httpx.AsyncClient(timeout=120) as client,
            client.stream("POST", self.url, json=body) as response,
        ):
            async for line in response.aiter_lines():
                if not line.startswith("data: {"):
                    continue
                if json.loads(line[6:])["choices"][0]["text"]:
                    first = first or time.perf_counter()
                    pieces += 1
        if not pieces:
            raise RuntimeError(f"llama-cpp-python's server streamed no text for {body['prompt']!r}")
        return first - started, time.perf_counter() - started, pieces

    def round(self, streams: int) -> dict[str, float]:
        return asyncio.run(self._round(streams))

    async def _round(self, streams: int) -> dict[str, float]:
        if streams == 1:
            runs = [await self.one(prompt) for prompt in PROMPTS[:3]]
            ttft = sorted(r[0] for r in runs)[1]
            return {
                "tokens_per_s": sum(r[2] for r in runs) / sum(r[1] for r in runs),
                "ttft_ms": ttft * 1000,
            }
        started = time.perf_counter()
        runs = await asyncio.gather(*(self.one(p) for p in PROMPTS[:streams]))
        seconds = time.perf_counter() - started
        return {
            "tokens_per_s": sum(r[2] for r in runs) / seconds,
            "ttft_ms": min(r[0] for r in runs) * 1000,
            "mean_ttft_ms": statistics.mean(r[0] for r in runs) * 1000,
        }


class InProcess:
    """llama-cpp-python's ``Llama`` in this process: greedy, exactly ``n`` tokens per prompt
    (its generate goes past end-of-sequence), each token detokenized as a server would; 8
    streams run one after another, as its server serves them."""

    def __init__(self, gguf: Path, n: int) -> None:
        import llama_cpp

        self.n = n
        self.model = llama_cpp.Llama(str(gguf), n_ctx=512, n_threads=THREADS, verbose=False)

    def one(self, prompt: str) -> tuple[float, float, int]:
        started, first, made = time.perf_counter(), 0.0, 0
        tokens = self.model.tokenize(prompt.encode(), add_bos=False, special=True)
        for token in self.model.generate(tokens, temp=0.0, reset=True):
            self.model.detokenize([token])
            first = first or time.perf_counter()
            made += 1
            if made == self.n:
                break
        return first - started, time.perf_counter() - started, made

    def round(self, streams: int) -> dict[str, float]:
        """1 stream: the median TTFT of three prompts, each alone; N streams: the prompts one
        after another, each request's TTFT counted from when all N were sent."""
        prompts = PROMPTS[:3] if streams == 1 else PROMPTS[:streams]
        started = time.perf_counter()
        own, since_sent, made = [], [], 0
        for prompt in prompts:
            waited = time.perf_counter() - started
            ttft, _, tokens = self.one(prompt)
            own.append(ttft)
            since_sent.append(waited + ttft)
            made += tokens
        rate = made / (time.perf_counter() - started)
        if streams == 1:
            return {"tokens_per_s": rate, "ttft_ms": sorted(own)[1] * 1000}
        return {
            "tokens_per_s": rate,
            "ttft_ms": since_sent[0] * 1000,
            "mean_ttft_ms": statistics.mean(since_sent) * 1000,
        }

    def close(self) -> None:
        self.model.close()
