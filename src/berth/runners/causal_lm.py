"""The ``transformers`` runner: chat and completions with a causal language model.

Inputs are :class:`GenerationRequest` items. Chat requests go through the tokenizer's chat
template; completions are tokenized as they are. A batch is generated together, token by
token with a KV cache (see :mod:`berth.runners.decoding`); each request keeps its own
sampling, seed, token limit and stop sequences, streams its text as it is made and finishes
on its own. A request that does not fit the model's context fails alone, with
:class:`~berth.errors.ContextTooLong`.

A request that names a LoRA adapter (``GenerationRequest.adapter``, set by the pool for a
fine-tuned model) runs with it over this base, rows with different adapters in one batch;
each adapter loads once, on first use (see :mod:`berth.runners.adapters`). An adapter that is
missing or does not match its sha256 fails only the requests that name it.
"""

from __future__ import annotations

import dataclasses
import functools
import gc
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from berth import errors
from berth.models.spec import ModelSpec
from berth.runners.adapters import HostedAdapters, merged
from berth.runners.chatprompt import (
    fallback_messages,
    native_messages,
    reads_tools,
    template_tools,
)
from berth.runners.contract import (
    END,
    Cancelled,
    EndOfInput,
    StreamItem,
    Take,
    check_options,
    never_cancelled,
)
from berth.runners.decoding import Chunk, Decoder, Slot
from berth.runners.detokenizer import Detokenizer
from berth.runners.grammars import Vocabulary
from berth.runners.logprobs import LogprobRecorder
from berth.runners.sampling import Sampler
from berth.tasks.generate import Generation, GenerationRequest
from berth.tasks.task import Task

OPTIONS = {
    "max_tokens": "Tokens a request may generate when it sets no max_tokens (default 256; "
    "never more than the context leaves).",
    "context_length": "Tokens the model reads at most, prompt and reply together (default: "
    "the model's max_position_embeddings).",
    "adapter": "A PEFT LoRA adapter folder applied to the model at load (a fine-tuned model).",
    "adapter_sha256": "The sha256 the adapter's weights must have (checked at load).",
    "adapter_base": "The catalog alias of the base an adapter was trained on (how the pool "
    "names the model process that hosts that base's adapters).",
    "ignore_eos": "Go on past the end-of-sequence token until max_tokens or a stop sequence "
    "(default false; for benchmarks).",
}
DEFAULT_MAX_TOKENS = 256
Pair = tuple[int, Chunk | EndOfInput | BaseException]
"""A streamed ``(index, chunk)``: text, the finished generation, END, or an input's error."""


class CausalLMRunner:
    """One causal LM and its tokenizer on one device."""

    def __init__(self) -> None:
        self._model: Any = None
        self._tokenizer: Any = None
        self._decoder: Decoder | None = None
        self._alias = ""
        self._device = "cpu"
        self._max_tokens = DEFAULT_MAX_TOKENS
        self._context = 0
        self._capacity = 1
        self._ends: frozenset[int] = frozenset()
        self._vocabulary: Vocabulary | None = None
        self._adapters: HostedAdapters | None = None

    def load(self, spec: ModelSpec, path: Path | None, device: str) -> None:
        self._alias, self._device = spec.alias, device
        path, options = self._checked(spec, path)
        import transformers
        from transformers import AutoModelForCausalLM, AutoTokenizer

        quiet: Callable[[], None] = transformers.utils.logging.disable_progress_bar
        quiet()
        tokenizer: Any = AutoTokenizer.from_pretrained(path, local_files_only=True)
        if spec.task is Task.CHAT and not getattr(tokenizer, "chat_template", None):
            raise errors.ModelLoadFailed(
                f"Model '{spec.alias}' is a chat model, but its tokenizer has no chat template. "
                "Use a model that ships one (tokenizer_config.json or chat_template.jinja), or "
                "make the catalog entry a 'complete' model."
            )
        model: Any = AutoModelForCausalLM.from_pretrained(
            path, local_files_only=True, dtype=_dtype(spec.options.dtype, device)
        )
        if options.get("adapter"):
            folder = Path(options["adapter"])
            model = merged(spec.alias, model, folder, str(options.get("adapter_sha256") or ""))
        self._model, self._tokenizer = model.to(device).eval(), tokenizer
        self._adapters = HostedAdapters(self._model, device)
        self._context = int(options.get("context_length") or _context_of(model.config))
        self._max_tokens = int(options.get("max_tokens", DEFAULT_MAX_TOKENS))
        self._capacity = spec.options.max_batch_size
        ends = frozenset() if options.get("ignore_eos") else _end_ids(model, tokenizer)
        self._ends, self._vocabulary = ends, None
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(ends, default=0)
        self._decoder = Decoder(self._model, ends, int(pad), device)

    def _checked(self, spec: ModelSpec, path: Path | None) -> tuple[Path, dict[str, Any]]:
        """The model's folder and runner options, checked."""
        if path is None:
            raise errors.ModelLoadFailed(
                f"Model '{spec.alias}' has no files: the transformers runner loads a model "
                "directory. Give the catalog entry a source."
            )
        options = dict(spec.options.runner_options)
        check_options(spec, "transformers", OPTIONS)
        return path, options

    def run(self, batch: Sequence[Any]) -> list[Any]:
        outputs: list[Any] = [None] * len(batch)
        for step in self._generate(batch, never_cancelled):
            for index, chunk in step:
                if isinstance(chunk, Generation | BaseException):
                    outputs[index] = chunk
        return outputs

    def stream(
        self, batch: Sequence[Any], cancelled: Cancelled = never_cancelled
    ) -> Iterator[StreamItem]:
        """One list of chunks per decoding step (the final :class:`Generation` of each request
        carries its counts and finish reason; its text went out already, piece by piece)."""
        for step in self._generate(batch, cancelled):
            if shown := _shown(step):
                yield shown

    def stream_continuous(self, take: Take, cancelled: Cancelled) -> Iterator[StreamItem]:
        """Like :meth:`stream`, with requests joining between steps (continuous batching)
        while fewer than the model's ``max_batch_size`` generate. Each request's final
        :class:`Generation` carries its whole text (its whole output, for callers that did not
        stream)."""
        decoder = self._loaded()
        refused: list[Pair] = []

        def join(room: int) -> list[Slot]:
            return self._slots(take(room), refused)

        for step in decoder.generate([], cancelled, join, self._capacity):
            yield [*refused, *step]
            refused.clear()
        if refused:
            yield refused

    def _generate(self, batch: Sequence[Any], cancelled: Cancelled) -> Iterator[Sequence[Pair]]:
        decoder = self._loaded()
        refused: list[Pair] = []
        slots = self._slots(enumerate(batch), refused)
        if refused:
            yield refused
        yield from decoder.generate(slots, cancelled)

    def _loaded(self) -> Decoder:
        if self._decoder is None:
            raise errors.ModelError("The transformers runner has no model loaded.")
        return self._decoder

    def _slots(self, items: Iterable[tuple[int, Any]], refused: list[Pair]) -> list[Slot]:
        """A slot per ``(index, request)``; a request that cannot run goes to ``refused`` as
        its error and END instead (it fails alone)."""
        slots = []
        for index, item in items:
            try:
                slots.append(self._slot(index, item))
            except (errors.InvalidRequest, errors.ModelCorrupt, errors.ModelLoadFailed) as exc:
                refused.extend([(index, exc), (index, END)])
        return slots

    def _slot(self, index: int, item: Any) -> Slot:
        if not isinstance(item, GenerationRequest):
            raise errors.InvalidRequest(
                f"The transformers runner takes generation requests, not {type(item).__name__}."
            )
        prompt = self._prompt_ids(item)
        limit = self._limit(len(prompt), item.max_tokens, _name(item, self._alias))
        adapter = self._adapter(item)
        tokenizer = self._tokenizer

        def decode(ids: Sequence[int]) -> str:
            return str(tokenizer.decode(list(ids), skip_special_tokens=True))

        vocabulary = self._vocab() if item.grammar or item.logprobs is not None else None
        scored = None
        if vocabulary is not None and item.logprobs is not None and item.echo:
            recorder = LogprobRecorder(item.logprobs, vocabulary.token_bytes)
            scored = recorder.prompt(self._scorer(adapter), prompt, self._device)
        return Slot(
            index=index,
            prompt=prompt,
            limit=limit,
            sampler=Sampler(item.temperature, item.top_p, item.seed, self._device),
            text=Detokenizer(decode, item.stop),
            whole=decode,
            stops=item.stop,
            matcher=vocabulary.matcher(item.grammar) if vocabulary and item.grammar else None,
            logprobs=(
                LogprobRecorder(item.logprobs, vocabulary.token_bytes)
                if vocabulary and item.logprobs is not None
                else None
            ),
            prompt_logprobs=scored,
            adapter=adapter,
        )

    def _adapter(self, item: GenerationRequest) -> str | None:
        """The internal name of the request's adapter (loaded on first use); None: none."""
        if item.adapter is None:
            return None
        hosted = self._hosted()
        was_hosting = hosted.hosting
        name = hosted.name_for(item.adapter)
        if not was_hosting:
            self._model = hosted.model
            self._loaded().host(hosted.model)
        return name

    def _scorer(self, adapter: str | None) -> Any:
        """The model as the prompt's scoring pass calls it: with the request's adapter."""
        return functools.partial(self._model, **self._loaded().adapter_names([adapter]))

    def _hosted(self) -> HostedAdapters:
        if self._adapters is None:
            raise errors.ModelError("The transformers runner has no model loaded.")
        return self._adapters

    def _vocab(self) -> Vocabulary:
        """The model's vocabulary for grammars and logprobs (made on first use)."""
        if self._vocabulary is None:
            size = int(self._model.get_output_embeddings().weight.shape[0])
            self._vocabulary = Vocabulary(self._tokenizer, size, self._ends)
        return self._vocabulary

    def _prompt_ids(self, item: GenerationRequest) -> list[int]:
        tokenizer, alias = self._tokenizer, _name(item, self._alias)
        if item.is_chat:
            if not getattr(tokenizer, "chat_template", None):
                raise errors.InvalidRequest(
                    f"Model '{alias}' has no chat template, so it cannot chat. Send it a "
                    "prompt through /v1/completions instead."
                )
            text = self._chat_text(item)
            ids = tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"]
        else:
            ids = tokenizer(item.prompt or "", verbose=False)["input_ids"]
        if not ids:
            if tokenizer.bos_token_id is None:
                raise errors.InvalidRequest(
                    f"The prompt is empty and model '{alias}' has no start token to "
                    "begin from. Send some text."
                )
            ids = [tokenizer.bos_token_id]
        return [int(token) for token in ids]

    def _chat_text(self, item: GenerationRequest) -> str:
        """The conversation through the chat template: with its tools section, if it has one
        (see :mod:`berth.runners.chatprompt`)."""
        tokenizer = self._tokenizer
        if reads_tools(tokenizer.chat_template):
            extra = {"tools": template_tools(item.tools)} if item.tools else {}
            messages = native_messages(item.messages)
        else:
            extra, messages = {}, fallback_messages(item)
        return str(
            tokenizer.apply_chat_template(
                messages, add_generation_prompt=True, tokenize=False, **extra
            )
        )

    def _limit(self, prompt: int, asked: int | None, alias: str) -> int:
        """How many tokens a request may make; ContextTooLong if it cannot fit."""
        room = self._context - prompt
        if room < 1:
            raise errors.ContextTooLong(
                f"The prompt is {prompt} tokens long, but model '{alias}' reads at most "
                f"{self._context} tokens, prompt and reply together. Shorten the prompt to "
                f"fewer than {self._context} tokens."
            )
        if asked is not None and asked > room:
            raise errors.ContextTooLong(
                f"The prompt is {prompt} tokens long and max_tokens asks for {asked} more: "
                f"{prompt + asked} tokens, past the {self._context} that model '{alias}' "
                f"reads. Shorten the prompt or set max_tokens to {room} or less."
            )
        return asked if asked is not None else min(self._max_tokens, room)

    def memory_bytes(self) -> int | None:
        if self._model is None or not self._device.startswith("cuda"):
            return None
        tensors = [*self._model.parameters(), *self._model.buffers()]
        return sum(int(t.numel()) * int(t.element_size()) for t in tensors)

    def close(self) -> None:
        self._model = self._tokenizer = self._decoder = self._adapters = None
        gc.collect()
        if self._device.startswith("cuda"):
            import torch

            torch.cuda.empty_cache()


def _name(item: GenerationRequest, alias: str) -> str:
    """The model a request asked for, for its messages: its fine-tuned model, if it has one."""
    return item.adapter.name if item.adapter is not None else alias


def _without_text(chunk: Any) -> Any:
    """A streamed chunk as it goes out: a final :class:`Generation` without its text, which
    went out already, piece by piece."""
    if isinstance(chunk, Generation):
        return dataclasses.replace(chunk, text="", logprobs=None)
    return chunk


def _shown(step: Sequence[tuple[int, Any]]) -> list[tuple[int, Any]]:
    """A step's chunks for a plain stream (no end markers)."""
    return [(index, _without_text(chunk)) for index, chunk in step if chunk is not END]


def _dtype(name: str, device: str) -> Any:
    """The torch dtype to load in: as asked, or for "auto" float32 on CPU (half precision is
    slow there) and the checkpoint's own dtype on a GPU."""
    import torch

    if name == "auto":
        return torch.float32 if device == "cpu" else "auto"
    return getattr(torch, name)


def _context_of(config: Any) -> int:
    for name in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    text = getattr(config, "text_config", None)
    if text is not None and text is not config:
        return _context_of(text)
    raise errors.ModelLoadFailed(
        "The model's config does not say how long its context is. Set the runner option "
        "context_length in its catalog entry."
    )


def _end_ids(model: Any, tokenizer: Any) -> frozenset[int]:
    """The tokens that end a generation: the generation config's and the tokenizer's EOS."""
    found: set[int] = set()
    for value in (getattr(model.generation_config, "eos_token_id", None), tokenizer.eos_token_id):
        if isinstance(value, int):
            found.add(value)
        elif isinstance(value, list | tuple):
            found.update(int(v) for v in value)
    return frozenset(found)
