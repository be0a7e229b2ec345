"""The ``llama-cpp`` runner: GGUF models through llama.cpp (the ``llama`` extra).

Chat and completions take :class:`GenerationRequest` items: chats go through the chat template
the GGUF carries (``tokenizer.chat_template``, rendered with Jinja as transformers does);
requests generate together with continuous batching (:mod:`berth.runners.llama_batching`),
each in its own KV stream of ``n_ctx`` tokens, with llama.cpp's samplers (temperature, top-p,
top-k, min-p, repeat penalty, seed). A request's grammar (structured output, tool calls)
goes through xgrammar over the GGUF's vocabulary, as on the transformers runner: each
constrained sequence's logits are masked before its token is drawn. Tools reach the prompt
through the template's tools section, or Berth's tool prompt where it has none. A request
past the context fails alone with
:class:`~berth.errors.ContextTooLong`. Embedding models (task ``embed``) give one pooled
vector per input.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import os
import re
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from berth import errors
from berth.models.spec import ModelSpec
from berth.runners.chatprompt import (
    fallback_messages,
    native_messages,
    reads_tools,
    template_tools,
)
from berth.runners.contract import (
    END,
    Cancelled,
    StreamItem,
    Take,
    check_options,
    never_cancelled,
)
from berth.runners.detokenizer import Detokenizer
from berth.runners.generating import Generating, offer, token_limit, without_text
from berth.runners.grammars import Vocabulary
from berth.runners.llama_batching import Scheduler
from berth.runners.llama_batching import Sequence as Running
from berth.runners.llama_native import Context, ContextShape, Model, Sampler, Sampling, bindings
from berth.tasks.embed import Embedded, EmbedInput
from berth.tasks.generate import Generation, GenerationRequest
from berth.tasks.task import Task

OPTIONS = {
    "file": "Which .gguf file of the model's folder to load, as a glob (needed when the "
    "folder has several).",
    "n_ctx": "Tokens one request may hold, prompt and reply together (default: the model's "
    "training context, at most 4096).",
    "parallel": "Requests that generate at once, each with its own KV cache of n_ctx tokens "
    "(default: max_batch_size, at most 4).",
    "n_gpu_layers": "Layers to offload to the GPU (-1: all; default: all on a cuda device, "
    "none on cpu).",
    "threads": "CPU threads llama.cpp computes with (default: the entry's cpu_threads, else "
    "half the cores, as llama.cpp advises: its threads spin between steps, and more of them "
    "than physical cores, or than the cores other work leaves, slow every step).",
    "n_batch": "Tokens one llama.cpp decode takes at most; longer prompts are cut into parts "
    "(default 512; for embedding models n_ctx).",
    "max_tokens": "Tokens a request may generate when it sets no max_tokens (default 256; "
    "never more than the context leaves).",
    "ignore_eos": "Go on past the end-of-generation tokens until max_tokens or a stop "
    "sequence (default false; for benchmarks).",
    "pooling": "Embedding models: mean, cls or last (default: as the GGUF says, else mean).",
    "normalize": "Embedding models: scale every vector to unit length (default true).",
}
DEFAULT_MAX_TOKENS = 256
DEFAULT_CONTEXT = 4096
DEFAULT_PARALLEL = 4
DEFAULT_BATCH = 512
POOLING = {"mean": 1, "cls": 2, "last": 3}
_SPLIT = re.compile(r"-(\d{5})-of-(\d{5})\.gguf$")


class LlamaCppRunner:
    """One GGUF model in llama.cpp, on the CPU or offloaded to one GPU."""

    def __init__(self) -> None:
        self._model: Model | None = None
        self._context: Context | None = None
        self._scheduler: Scheduler | None = None
        self._alias = ""
        self._task = Task.CHAT
        self._n_ctx = 0
        self._max_tokens = DEFAULT_MAX_TOKENS
        self._template: Any = None
        self._template_source: str | None = None
        self._vocabulary: Vocabulary | None = None
        self._normalize = True
        self.file: Path | None = None

    # -- load --------------------------------------------------------------------------------

    def load(self, spec: ModelSpec, path: Path | None, device: str) -> None:
        check_options(spec, "llama-cpp", OPTIONS)
        options = dict(spec.options.runner_options)
        self._alias, self._task = spec.alias, spec.task
        self.file = gguf_file(spec, path, options.get("file"))
        lib = bindings()
        layers, main_gpu = _offload(spec, device, options.get("n_gpu_layers"), lib)
        model = self._model = Model(self.file, layers, main_gpu)
        self._n_ctx = int(options.get("n_ctx") or min(model.n_ctx_train, DEFAULT_CONTEXT))
        self._max_tokens = int(options.get("max_tokens", DEFAULT_MAX_TOKENS))
        threads = int(options.get("threads") or spec.options.cpu_threads or _cores())
        if spec.task is Task.EMBED:
            self._load_embedder(spec, options, threads)
            return
        if spec.task is Task.CHAT:
            self._template_source = model.chat_template()
            self._template = _compiled(self._template_source, spec.alias)
        places = int(options.get("parallel") or min(spec.options.max_batch_size, DEFAULT_PARALLEL))
        batch = int(options.get("n_batch") or DEFAULT_BATCH)
        shape = ContextShape(self._n_ctx, places, batch, threads)
        self._context = Context(model, shape)
        ignore = bool(options.get("ignore_eos", False))
        self._scheduler = Scheduler(model, self._context, places, ignore_end=ignore)

    def _load_embedder(self, spec: ModelSpec, options: dict[str, Any], threads: int) -> None:
        assert self._model is not None
        pooling = options.get("pooling")
        if pooling is not None and pooling not in POOLING:
            raise errors.ModelLoadFailed(
                f"Model '{spec.alias}': the runner option pooling must be one of "
                f"{', '.join(POOLING)}, not {pooling!r}."
            )
        places = int(options.get("parallel") or min(spec.options.max_batch_size, 16))
        batch = int(options.get("n_batch") or self._n_ctx)
        shape = ContextShape(self._n_ctx, places, max(batch, self._n_ctx), threads, True, -1)
        context = Context(self._model, shape)
        if context.pooling <= 0:
            context.close()
            chosen = POOLING[pooling or "mean"]
            context = Context(self._model, dataclasses.replace(shape, pooling=chosen))
        elif pooling is not None and POOLING[pooling] != context.pooling:
            context.close()
            context = Context(self._model, dataclasses.replace(shape, pooling=POOLING[pooling]))
        self._context = context
        self._normalize = bool(options.get("normalize", True))

    # -- generation --------------------------------------------------------------------------

    def stream_continuous(self, take: Take, cancelled: Cancelled) -> Iterator[StreamItem]:
        """Requests join between decodes while fewer than ``parallel`` generate; each ends
        with its whole :class:`Generation` and END."""
        scheduler = self._generating()
        yield from scheduler.run(take, cancelled, self._sequence)

    def stream(
        self, batch: Sequence[Any], cancelled: Cancelled = never_cancelled
    ) -> Iterator[StreamItem]:
        """One list of chunks per decode; each request's last chunk is its
        :class:`Generation` with its counts (its text went out piece by piece)."""
        if self._task is Task.EMBED:
            raise errors.InvalidRequest(
                f"Model '{self._alias}' makes embeddings; it cannot stream."
            )
        for step in self._generating().run(offer(batch), cancelled, self._sequence):
            shown = [(i, without_text(chunk)) for i, chunk in step if chunk is not END]
            if shown:
                yield shown

    def run(self, batch: Sequence[Any]) -> list[Any]:
        if self._task is Task.EMBED:
            return self._embed(batch)
        outputs: list[Any] = [None] * len(batch)
        for step in self._generating().run(offer(batch), never_cancelled, self._sequence):
            for index, chunk in step:
                if isinstance(chunk, Generation | BaseException):
                    outputs[index] = chunk
        return outputs

    def _generating(self) -> Scheduler:
        if self._scheduler is None:
            raise errors.ModelError(
                f"Model '{self._alias}' has no generation loaded (is it an embedding model?)."
            )
        return self._scheduler

    def _sequence(self, key: int, item: Any) -> Running:
        """The running sequence for a request; InvalidRequest (it fails alone) if it cannot
        run."""
        model = self._model
        assert model is not None
        if not isinstance(item, GenerationRequest):
            raise errors.InvalidRequest(
                f"The llama-cpp runner takes generation requests, not {type(item).__name__}."
            )
        sampling = self._sampling(item)
        prompt = self._prompt_ids(item)
        limit = token_limit(
            self._alias, self._n_ctx, len(prompt), item.max_tokens, self._max_tokens
        )

        def decode(ids: Sequence[int]) -> str:
            return model.detokenize(list(ids))

        progress = Generating(
            key, len(prompt), limit, Detokenizer(decode, item.stop), decode, item.stop
        )
        matcher = self._vocab().matcher(item.grammar) if item.grammar is not None else None
        return Running(prompt, Sampler(model, sampling), progress, matcher)

    def _sampling(self, item: GenerationRequest) -> Sampling:
        return Sampling(
            temperature=item.temperature,
            top_p=item.top_p,
            top_k=item.top_k,
            min_p=item.min_p,
            repeat_penalty=item.repeat_penalty,
            seed=item.seed,
        )

    def _vocab(self) -> Vocabulary:
        """The GGUF's vocabulary for grammars (made on first use): each token's bytes, the
        end-of-generation tokens, the control tokens."""
        model = self._model
        assert model is not None
        if self._vocabulary is None:
            tokens = range(model.n_vocab)
            self._vocabulary = Vocabulary.from_pieces(
                [model.piece(token) for token in tokens],
                [token for token in tokens if model.is_end(token)],
                [token for token in tokens if model.is_control(token)],
            )
        return self._vocabulary

    def _prompt_ids(self, item: GenerationRequest) -> list[int]:
        model = self._model
        assert model is not None
        if item.is_chat:
            if self._template is None:
                raise errors.InvalidRequest(
                    f"Model '{self._alias}' has no chat template, so it cannot chat. Send it a "
                    "prompt through /v1/completions instead."
                )
            text = self._render(item)
            ids = model.tokenize(text, add_special=False, parse_special=True)
        else:
            ids = model.tokenize(item.prompt or "", add_special=model.adds_bos, parse_special=True)
        if not ids:
            if model.bos < 0:
                raise errors.InvalidRequest(
                    f"The prompt is empty and model '{self._alias}' has no start token to "
                    "begin from. Send some text."
                )
            ids = [model.bos]
        return ids

    def _render(self, item: GenerationRequest) -> str:
        model = self._model
        assert model is not None
        extra: dict[str, Any] = {}
        if reads_tools(self._template_source):
            messages = native_messages(item.messages)
            if item.tools:
                extra["tools"] = template_tools(item.tools)
        else:
            messages = fallback_messages(item)
        try:
            return str(
                self._template.render(
                    messages=messages,
                    add_generation_prompt=True,
                    bos_token=model.token_text(model.bos),
                    eos_token=model.token_text(model.eos),
                    **extra,
                )
            )
        except Exception as exc:
            raise errors.InvalidRequest(
                f"Model '{self._alias}''s chat template refused the messages: {exc}"
            ) from exc

    # -- embeddings --------------------------------------------------------------------------

    def _embed(self, batch: Sequence[Any]) -> list[Any]:
        model, context = self._model, self._context
        assert model is not None
        assert context is not None
        outputs: list[Any] = [None] * len(batch)
        ready: list[tuple[int, list[int]]] = []
        for index, item in enumerate(batch):
            try:
                ready.append((index, self._embed_ids(item)))
            except errors.InvalidRequest as exc:
                outputs[index] = exc
        for group in _groups(ready, context.shape.sequences, context.shape.batch):
            context.clear()
            rows = [
                (token, position, place, True)
                for place, (_, ids) in enumerate(group)
                for position, token in enumerate(ids)
            ]
            context.decode(rows)
            for place, (index, ids) in enumerate(group):
                vector = np.asarray(context.pooled(place, model.n_embd), dtype=np.float32)
                if self._normalize:
                    vector = vector / max(float(np.linalg.norm(vector)), 1e-12)
                wanted = isinstance(batch[index], EmbedInput)
                outputs[index] = Embedded(vector, len(ids)) if wanted else vector
        return outputs

    def _embed_ids(self, item: Any) -> list[int]:
        model = self._model
        assert model is not None
        if isinstance(item, EmbedInput) and item.tokens is not None:
            ids = list(item.tokens)
        elif isinstance(item, str | EmbedInput):
            text = item if isinstance(item, str) else item.text or ""
            ids = model.tokenize(text, add_special=True, parse_special=False)
        else:
            raise errors.InvalidRequest(
                f"The llama-cpp runner embeds text, not {type(item).__name__}."
            )
        if len(ids) > self._n_ctx:
            raise errors.ContextTooLong(
                f"The input is {len(ids)} tokens long, but model '{self._alias}' reads at most "
                f"{self._n_ctx}. Shorten it."
            )
        if any(not 0 <= token < model.n_vocab for token in ids):
            raise errors.InvalidRequest(
                f"Token ids must be in model '{self._alias}''s vocabulary (0 to "
                f"{model.n_vocab - 1})."
            )
        return ids or [max(model.bos, 0)]

    # -- memory and close --------------------------------------------------------------------

    def memory_bytes(self) -> int | None:
        """The model's tensors (mapped from the file or offloaded), the KV caches of every
        place, and the logits buffer llama.cpp keeps for a decode."""
        model, context = self._model, self._context
        if model is None:
            return None
        held = model.bytes
        if context is not None:
            held += context.kv_bytes() + context.shape.sequences * model.n_vocab * 4
        return held

    def close(self) -> None:
        if self._context is not None:
            self._context.close()
        if self._model is not None:
            self._model.close()
        self._context = self._model = self._scheduler = self._vocabulary = None


def gguf_file(spec: ModelSpec, path: Path | None, pattern: Any) -> Path:
    """The GGUF file to load: ``path`` itself, or the one ``.gguf`` in its folder that the
    entry's ``files`` patterns and ``pattern`` pick (the first part of a split model)."""
    if path is None:
        raise errors.ModelLoadFailed(
            f"Model '{spec.alias}' has no files: the llama-cpp runner loads a GGUF file. Give "
            'the catalog entry a source (hf:ORG/REPO@REVISION with files = ["*Q4_K_M.gguf"], '
            "or local:/path/to/model.gguf)."
        )
    if path.is_file():
        return path
    found = sorted(
        p
        for p in path.rglob("*.gguf")
        if p.is_file() and spec.wants(p.relative_to(path).as_posix())
    )
    if pattern is not None:
        found = [p for p in found if fnmatch.fnmatch(p.relative_to(path).as_posix(), str(pattern))]
    found = [p for p in found if (m := _SPLIT.search(p.name)) is None or m.group(1) == "00001"]
    if len(found) == 1:
        return found[0]
    names = ", ".join(p.relative_to(path).as_posix() for p in found) or "none"
    raise errors.ModelLoadFailed(
        f"Model '{spec.alias}': the llama-cpp runner needs exactly one .gguf file in "
        f"{path}, and finds {len(found)} ({names}). Narrow the entry's files pattern or set "
        "the runner option file."
    )


def _offload(spec: ModelSpec, device: str, asked: Any, lib: Any) -> tuple[int, int]:
    """The layers to put on the GPU and which GPU."""
    if not device.startswith("cuda"):
        if asked not in (None, 0):
            raise errors.ModelLoadFailed(
                f"Model '{spec.alias}' runs on {device}, so it cannot offload n_gpu_layers: set "
                "its device to cuda, or drop the option."
            )
        return 0, 0
    if not lib.llama_supports_gpu_offload():
        raise errors.ModelLoadFailed(
            f"Model '{spec.alias}' is to run on {device}, but this llama-cpp-python was built "
            'without GPU support. Reinstall it with CMAKE_ARGS="-DGGML_CUDA=on", or set the '
            "model's device to cpu."
        )
    _, _, index = device.partition(":")
    return (-1 if asked is None else int(asked)), int(index or 0)


def _compiled(source: str | None, alias: str) -> Any:
    """The GGUF's chat template, compiled in a sandbox; ModelLoadFailed if there is none."""
    if not source:
        raise errors.ModelLoadFailed(
            f"Model '{alias}' is a chat model, but its GGUF has no chat template "
            "(tokenizer.chat_template). Use a GGUF that carries one, or make the catalog entry "
            "a 'complete' model."
        )
    from jinja2.exceptions import TemplateError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        raise TemplateError(message)

    def strftime_now(format: str) -> str:
        return datetime.now().strftime(format)

    environment = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    environment.globals.update(raise_exception=raise_exception, strftime_now=strftime_now)
    return environment.from_string(source)


def _groups(
    ready: list[tuple[int, list[int]]], places: int, tokens: int
) -> Iterator[list[tuple[int, list[int]]]]:
    """Inputs in groups that fit one decode: at most ``places`` sequences and ``tokens``
    tokens."""
    group: list[tuple[int, list[int]]] = []
    size = 0
    for entry in ready:
        if group and (len(group) == places or size + len(entry[1]) > tokens):
            yield group
            group, size = [], 0
        group.append(entry)
        size += len(entry[1])
    if group:
        yield group


def _cores() -> int:
    """Half the cores this process may use (about the physical ones), at least one."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (usable or 1) // 2)
