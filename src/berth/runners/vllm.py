"""The ``vllm`` runner: chat and completions on a CUDA GPU with vLLM's engine (paged KV cache,
continuous batching, prefix caching) behind Berth's pool.

The engine (:mod:`berth.runners.vllm_engine`) runs on its own event loop in a thread of the
model's process; requests join it as they come (``stream_continuous``), each with its
tokenizer-rendered prompt, its sampling and its token limit, and its new tokens stream back
through Berth's detokenizer and stop sequences. vLLM takes a fixed share of the GPU up front:
the share is the entry's ``memory_estimate`` over the GPU's total memory, which the pool has
already found room for in the device's budget, so served models and vLLM never oversubscribe
the GPU; ``memory_bytes`` reports exactly that share.
"""

from __future__ import annotations

import asyncio
import itertools
import queue
import threading
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from berth import errors
from berth.models.spec import ModelSpec
from berth.runners.contract import (
    END,
    Cancelled,
    StreamItem,
    Take,
    check_options,
    never_cancelled,
)
from berth.runners.detokenizer import Detokenizer
from berth.runners.generating import Chunk, Generating, offer, token_limit, without_text
from berth.runners.vllm_engine import Engine, EngineConfig, EngineSampling, EngineStep, VllmEngine
from berth.tasks.generate import Generation, GenerationRequest, TextDelta
from berth.tasks.task import Task

OPTIONS = {
    "max_model_len": "Tokens one request may hold, prompt and reply (default: the model's).",
    "max_tokens": "Tokens a request may generate when it sets no max_tokens (default 256).",
    "seed": "The engine's seed (default 0).",
}
DEFAULT_MAX_TOKENS = 256
WAIT_SECONDS = 0.02
"""Longest the runner waits for the engine's next tokens before looking for new requests."""
MakeEngine = Callable[[EngineConfig], Engine]
GpuBytes = Callable[[str], int]


def cuda_total_bytes(device: str) -> int:
    """The total memory of a CUDA device, from torch."""
    import torch

    _, _, index = device.partition(":")
    return int(torch.cuda.get_device_properties(int(index or 0)).total_memory)


def memory_share(spec: ModelSpec, total: int) -> float:
    """vLLM's ``gpu_memory_utilization``: the entry's memory_estimate over the GPU's memory."""
    estimate = spec.options.memory_estimate
    if not estimate:
        raise errors.ModelLoadFailed(
            f"Model '{spec.alias}' (vllm runner) needs a memory_estimate: vLLM takes that much "
            "of the GPU up front, weights and KV cache, and Berth budgets it. Set it in the "
            'entry\'s options, e.g. memory_estimate = "20GiB".'
        )
    share = estimate / total
    if share > 1:
        raise errors.ModelLoadFailed(
            f"Model '{spec.alias}' asks for a memory_estimate of {estimate} bytes, more than "
            f"the {total} its GPU has. Lower it."
        )
    return share


@dataclass
class _Request:
    out: Generating
    request_id: str


class VllmRunner:
    """One model in a vLLM engine on one GPU."""

    def __init__(
        self, make_engine: MakeEngine = VllmEngine, gpu_bytes: GpuBytes = cuda_total_bytes
    ) -> None:
        self._make_engine, self._gpu_bytes = make_engine, gpu_bytes
        self._engine: Engine | None = None
        self._tokenizer: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._alias = ""
        self._held = 0
        self._capacity = 1
        self._max_tokens = DEFAULT_MAX_TOKENS
        self._ids = itertools.count()
        self.share = 0.0
        """The ``gpu_memory_utilization`` the engine was started with."""

    def load(self, spec: ModelSpec, path: Path | None, device: str) -> None:
        check_options(spec, "vllm", OPTIONS)
        if path is None or not device.startswith("cuda"):
            raise errors.ModelLoadFailed(
                f"Model '{spec.alias}': the vllm runner serves a model folder on a CUDA GPU. "
                "Give the entry a source and set its device to cuda (or use the transformers "
                "or llama-cpp runner on this machine)."
            )
        options = spec.options.runner_options
        total = self._gpu_bytes(device)
        self.share = memory_share(spec, total)
        self._held = int(self.share * total)
        self._alias, self._capacity = spec.alias, spec.options.max_batch_size
        self._max_tokens = int(options.get("max_tokens", DEFAULT_MAX_TOKENS))
        from transformers import AutoTokenizer

        self._tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        if spec.task is Task.CHAT and not getattr(self._tokenizer, "chat_template", None):
            raise errors.ModelLoadFailed(
                f"Model '{spec.alias}' is a chat model, but its tokenizer has no chat template."
            )
        config = EngineConfig(
            path=path,
            device=device,
            gpu_memory_utilization=self.share,
            max_num_seqs=self._capacity,
            max_model_len=options.get("max_model_len"),
            dtype=spec.options.dtype,
            seed=int(options.get("seed", 0)),
        )
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._engine = self._make_engine(config)

    # -- generation --------------------------------------------------------------------------

    def stream_continuous(self, take: Take, cancelled: Cancelled) -> Iterator[StreamItem]:
        """Requests go to the engine as they come while fewer than ``max_batch_size`` run;
        the engine's new tokens come back as each step's chunks, each request ending with its
        whole :class:`Generation` and END."""
        yield from self._steps(take, cancelled)

    def _steps(self, take: Take, cancelled: Cancelled) -> Iterator[list[tuple[int, Chunk]]]:
        engine = self._running()
        arrived: queue.Queue[tuple[int, EngineStep | BaseException]] = queue.Queue()
        active: dict[int, _Request] = {}
        try:
            while True:
                step: list[tuple[int, Chunk]] = []
                if len(active) < self._capacity:
                    for key, item in take(self._capacity - len(active)):
                        self._admit(key, item, engine, arrived, active, step)
                for key in [key for key in active if cancelled(key)]:
                    self._abort(engine, active.pop(key))
                    step.append((key, END))
                if not active and not step:
                    return
                if active:
                    self._collect(arrived, active, engine, step)
                if step:
                    yield step
        finally:
            for request in active.values():
                self._abort(engine, request)

    def stream(
        self, batch: Sequence[Any], cancelled: Cancelled = never_cancelled
    ) -> Iterator[StreamItem]:
        for step in self._steps(offer(batch), cancelled):
            shown = [(i, without_text(c)) for i, c in step if c is not END]
            if shown:
                yield shown

    def run(self, batch: Sequence[Any]) -> list[Any]:
        outputs: list[Any] = [None] * len(batch)
        for step in self._steps(offer(batch), never_cancelled):
            for index, chunk in step:
                if isinstance(chunk, Generation | BaseException):
                    outputs[index] = chunk
        return outputs

    def _admit(
        self,
        key: int,
        item: Any,
        engine: Engine,
        arrived: queue.Queue[tuple[int, EngineStep | BaseException]],
        active: dict[int, _Request],
        step: list[tuple[int, Chunk]],
    ) -> None:
        try:
            prompt, out, sampling = self._prepare(key, item, engine)
        except errors.InvalidRequest as exc:
            step.extend([(key, exc), (key, END)])
            return
        request = _Request(out, f"berth-{next(self._ids)}")
        active[key] = request
        self._submit(self._consume(engine, key, request.request_id, prompt, sampling, arrived))

    def _prepare(
        self, key: int, item: Any, engine: Engine
    ) -> tuple[list[int], Generating, EngineSampling]:
        if not isinstance(item, GenerationRequest):
            raise errors.InvalidRequest(
                f"The vllm runner takes generation requests, not {type(item).__name__}."
            )
        prompt = self._prompt_ids(item)
        limit = token_limit(
            self._alias, engine.context, len(prompt), item.max_tokens, self._max_tokens
        )
        tokenizer = self._tokenizer

        def decode(ids: Sequence[int]) -> str:
            return str(tokenizer.decode(list(ids), skip_special_tokens=True))

        out = Generating(key, len(prompt), limit, Detokenizer(decode, item.stop), decode, item.stop)
        sampling = EngineSampling(
            max_tokens=limit,
            temperature=item.temperature,
            top_p=item.top_p,
            top_k=item.top_k,
            min_p=item.min_p,
            repetition_penalty=item.repeat_penalty,
            seed=item.seed,
        )
        return prompt, out, sampling

    def _prompt_ids(self, item: GenerationRequest) -> list[int]:
        tokenizer = self._tokenizer
        if item.is_chat:
            messages = [{"role": m.role, "content": m.content} for m in item.messages]
            text = tokenizer.apply_chat_template(
                messages, add_generation_prompt=True, tokenize=False
            )
            ids = tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"]
        else:
            ids = tokenizer(item.prompt or "", verbose=False)["input_ids"]
        if not ids and tokenizer.bos_token_id is not None:
            ids = [tokenizer.bos_token_id]
        if not ids:
            raise errors.InvalidRequest("The prompt is empty. Send some text.")
        return [int(token) for token in ids]

    def _collect(
        self,
        arrived: queue.Queue[tuple[int, EngineStep | BaseException]],
        active: dict[int, _Request],
        engine: Engine,
        step: list[tuple[int, Chunk]],
    ) -> None:
        """What the engine made since the last look (waiting a little for the first)."""
        try:
            got = [arrived.get(timeout=WAIT_SECONDS)]
        except queue.Empty:
            return
        while True:
            try:
                got.append(arrived.get_nowait())
            except queue.Empty:
                break
        for key, made in got:
            request = active.get(key)
            if request is None:
                continue
            if isinstance(made, BaseException):
                step.extend([(key, made), (key, END)])
                del active[key]
                continue
            step.extend((key, chunk) for chunk in self._advance(request, made))
            if request.out.finish is not None:
                if not made.finished:
                    self._abort(engine, request)
                step.append((key, END))
                del active[key]

    def _advance(self, request: _Request, made: EngineStep) -> list[Chunk]:
        out = request.out
        chunks: list[Chunk] = []
        for position, token in enumerate(made.tokens):
            ends = made.finished and made.reason == "stop" and position == len(made.tokens) - 1
            chunks.extend(out.take(token, ends))
            if out.finish is not None:
                return chunks
        if made.finished:
            out.finish = "length" if made.reason == "length" else "stop"
            if piece := out.text.finish():
                chunks.append(TextDelta(piece))
            chunks.append(out.result())
        return chunks

    async def _consume(
        self,
        engine: Engine,
        key: int,
        request_id: str,
        prompt: list[int],
        sampling: EngineSampling,
        arrived: queue.Queue[tuple[int, EngineStep | BaseException]],
    ) -> None:
        try:
            async for made in engine.generate(request_id, prompt, sampling):
                arrived.put((key, made))
        except Exception as exc:
            arrived.put((key, errors.ModelError(f"The vLLM engine failed the request: {exc}")))

    def _abort(self, engine: Engine, request: _Request) -> None:
        self._submit(engine.abort(request.request_id))

    def _submit(self, work: Coroutine[Any, Any, None]) -> None:
        assert self._loop is not None
        asyncio.run_coroutine_threadsafe(work, self._loop)

    def _running(self) -> Engine:
        if self._engine is None:
            raise errors.ModelError("The vllm runner has no engine loaded.")
        return self._engine

    # -- memory and close --------------------------------------------------------------------

    def memory_bytes(self) -> int | None:
        """The share of the GPU vLLM was told to take (it allocates all of it up front)."""
        return self._held if self._engine is not None else None

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
            self._engine = None
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
            self._loop.close()
            self._loop = self._thread = None
