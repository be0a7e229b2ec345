"""The port between the ``vllm`` runner and an engine that batches generations itself, its
vLLM adapter, and a fake shipped beside it.

The runner hands the engine prompt token ids and sampling settings per request and reads back
each request's new token ids as the engine makes them (vLLM's continuous batching decides what
runs together); it aborts a request whose caller left or that hit a stop sequence. Everything
else (chat template, detokenizing, stops, token limits) stays in the runner, so the fake
exercises all of it.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from berth import errors

MISSING = (
    "The vllm runner needs vLLM, which runs on CUDA machines only: install it there with "
    "`pip install vllm` (matching your CUDA and torch), or serve this model with the "
    "transformers or llama-cpp runner."
)


@dataclass(frozen=True)
class EngineSampling:
    """One request's sampling settings, as the engine takes them."""

    max_tokens: int
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    min_p: float = 0.0
    repetition_penalty: float = 1.0
    seed: int | None = None


@dataclass(frozen=True)
class EngineStep:
    """What one request got from one engine step: its new tokens, and whether it finished
    (``"stop"``: an end-of-sequence token, ``"length"``: its max_tokens)."""

    tokens: tuple[int, ...]
    finished: bool = False
    reason: str | None = None


class Engine(Protocol):
    """An engine that batches requests itself."""

    context: int
    """Tokens one request may hold, prompt and reply."""

    def generate(
        self, request_id: str, prompt: list[int], sampling: EngineSampling
    ) -> AsyncIterator[EngineStep]:
        """The request's steps as the engine makes them, until one is ``finished``."""
        ...

    async def abort(self, request_id: str) -> None:
        """Stop a request (its generator then ends)."""
        ...

    def close(self) -> None:
        """Free the engine's memory."""
        ...


@dataclass(frozen=True)
class EngineConfig:
    """How to start an engine for one model."""

    path: Path
    device: str
    gpu_memory_utilization: float
    max_num_seqs: int
    max_model_len: int | None
    dtype: str
    seed: int = 0


class FakeEngine:
    """An engine for tests: each request makes tokens from its prompt and seed (the same
    tokens whatever else runs), one per step, interleaving requests on the event loop as vLLM
    interleaves them on the GPU. ``end`` (if set) is the token that finishes a request."""

    def __init__(self, config: EngineConfig, vocab: int, end: int | None = None) -> None:
        self.config = config
        self.context = config.max_model_len or 128
        self.vocab, self.end = vocab, end
        self.aborted: list[str] = []
        self.running: set[str] = set()
        self.most_running = 0
        self.closed = False

    async def generate(
        self, request_id: str, prompt: list[int], sampling: EngineSampling
    ) -> AsyncIterator[EngineStep]:
        self.running.add(request_id)
        self.most_running = max(self.most_running, len(self.running))
        base = sum(prompt) + (0 if sampling.temperature == 0 else (sampling.seed or 0) * 31)
        try:
            for made in range(1, sampling.max_tokens + 1):
                await asyncio.sleep(0.001)
                if request_id in self.aborted:
                    return
                token = (base + 7 * made * made) % self.vocab
                if token == self.end:
                    yield EngineStep((token,), True, "stop")
                    return
                last = made == sampling.max_tokens
                yield EngineStep((token,), last, "length" if last else None)
        finally:
            self.running.discard(request_id)

    async def abort(self, request_id: str) -> None:
        self.aborted.append(request_id)

    def close(self) -> None:
        self.closed = True


class VllmEngine:
    """vLLM's asynchronous engine (``AsyncLLMEngine``: the V1 ``AsyncLLM`` where vLLM has
    it) on one GPU, taking its share of the GPU's memory."""

    def __init__(self, config: EngineConfig) -> None:
        try:
            vllm: Any = importlib.import_module("vllm")
        except ImportError as exc:
            raise errors.ModelLoadFailed(MISSING) from exc
        self._vllm = vllm
        args = vllm.AsyncEngineArgs(
            model=str(config.path),
            tokenizer=str(config.path),
            gpu_memory_utilization=config.gpu_memory_utilization,
            max_num_seqs=config.max_num_seqs,
            max_model_len=config.max_model_len,
            dtype=config.dtype,
            seed=config.seed,
            enable_prefix_caching=True,
            disable_log_stats=True,
        )
        self._engine = vllm.AsyncLLMEngine.from_engine_args(args)
        self.context = int(self._engine.model_config.max_model_len)

    async def generate(
        self, request_id: str, prompt: list[int], sampling: EngineSampling
    ) -> AsyncIterator[EngineStep]:
        params = self._vllm.SamplingParams(
            n=1,
            max_tokens=sampling.max_tokens,
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            top_k=sampling.top_k if sampling.top_k > 0 else -1,
            min_p=sampling.min_p,
            repetition_penalty=sampling.repetition_penalty,
            seed=sampling.seed,
            detokenize=False,
        )
        seen = 0
        inputs = {"prompt_token_ids": prompt}
        async for output in self._engine.generate(inputs, params, request_id):
            completion = output.outputs[0]
            tokens = tuple(completion.token_ids[seen:])
            seen = len(completion.token_ids)
            reason = completion.finish_reason
            yield EngineStep(tokens, bool(output.finished), reason if output.finished else None)

    async def abort(self, request_id: str) -> None:
        await self._engine.abort(request_id)

    def close(self) -> None:
        shutdown = getattr(self._engine, "shutdown", None)
        if shutdown is not None:
            shutdown()
        self._engine = None
