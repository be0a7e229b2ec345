"""llama.cpp through llama-cpp-python's ctypes bindings: one model, one context with a KV
stream per sequence, batches of tokens from several sequences, sampler chains.

Only this module touches the bindings (``llama_cpp.llama_cpp``); it imports them on first use,
so Berth runs without the ``llama`` extra and says how to install it when a model needs it.
"""

from __future__ import annotations

import ctypes
import importlib
import logging
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from berth import errors

log = logging.getLogger(__name__)
MISSING = (
    "The llama-cpp runner needs llama-cpp-python, which Berth installs with its 'llama' "
    "extra: run `pip install 'berth[llama]'` (or `scripts/bootstrap llama` in a checkout)."
)
KV_BYTES_PER_VALUE = 2
"""llama.cpp keeps keys and values as float16 unless told otherwise."""


def bindings() -> Any:
    """The ``llama_cpp.llama_cpp`` module, its backend initialised and its logs routed to
    Python logging; ModelLoadFailed naming the extra when it is not installed."""
    try:
        lib: Any = importlib.import_module("llama_cpp.llama_cpp")
    except ImportError as exc:
        raise errors.ModelLoadFailed(MISSING) from exc
    if not getattr(lib, "_berth_ready", False):
        lib.llama_log_set(_log_callback(lib), ctypes.c_void_p(0))
        lib.llama_backend_init()
        lib._berth_ready = True
    return lib


_KEEP: list[Any] = []


def _log_callback(lib: Any) -> Any:
    """A log callback that hands llama.cpp's messages to the ``berth`` logger at debug level
    (llama.cpp otherwise writes them all to stderr)."""

    def forward(level: int, text: bytes | None, _: Any) -> None:
        if text and log.isEnabledFor(logging.DEBUG):
            log.debug(text.decode(errors="replace").rstrip(), extra={"action": "llama.log"})

    callback = lib.llama_log_callback(forward)
    _KEEP.append(callback)
    return callback


@dataclass(frozen=True)
class Sampling:
    """One sequence's sampling settings."""

    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    min_p: float = 0.0
    repeat_penalty: float = 1.0
    seed: int | None = None


GREEDY_BELOW = 1e-5
PENALTY_WINDOW = 64
"""Tokens back that the repeat penalty looks at (llama.cpp's default)."""


class Model:
    """A loaded GGUF model: its vocabulary, metadata and sizes."""

    def __init__(self, path: Path, gpu_layers: int, main_gpu: int) -> None:
        lib = self.lib = bindings()
        params = lib.llama_model_default_params()
        params.n_gpu_layers = gpu_layers
        params.main_gpu = main_gpu
        if gpu_layers != 0:
            params.split_mode = lib.LLAMA_SPLIT_MODE_NONE
        self.ptr = lib.llama_model_load_from_file(str(path).encode(), params)
        if not self.ptr:
            raise errors.ModelLoadFailed(
                f"llama.cpp could not load '{path}': is it a GGUF file of an architecture this "
                "llama-cpp-python knows? Its log (at debug level) says more."
            )
        self.vocab = lib.llama_model_get_vocab(self.ptr)
        self.n_vocab = int(lib.llama_vocab_n_tokens(self.vocab))
        self.n_embd = int(lib.llama_model_n_embd(self.ptr))
        self.n_layer = int(lib.llama_model_n_layer(self.ptr))
        self.n_head = int(lib.llama_model_n_head(self.ptr))
        self.n_head_kv = int(lib.llama_model_n_head_kv(self.ptr))
        self.n_ctx_train = int(lib.llama_model_n_ctx_train(self.ptr))
        self.bytes = int(lib.llama_model_size(self.ptr))

    def meta(self, key: str) -> str | None:
        """A metadata value as text, or None."""
        size = 256
        while True:
            buffer = ctypes.create_string_buffer(size)
            n = self.lib.llama_model_meta_val_str(self.ptr, key.encode(), buffer, size)
            if n < 0:
                return None
            if n < size:
                return buffer.value.decode(errors="replace")
            size = n + 1

    def chat_template(self) -> str | None:
        """The chat template the GGUF carries (``tokenizer.chat_template``), if any."""
        template = self.lib.llama_model_chat_template(self.ptr, None)
        return template.decode() if template else None

    def token_text(self, token: int) -> str:
        if token < 0:
            return ""
        return str(self.lib.llama_vocab_get_text(self.vocab, token).decode(errors="replace"))

    @property
    def bos(self) -> int:
        return int(self.lib.llama_vocab_bos(self.vocab))

    @property
    def eos(self) -> int:
        return int(self.lib.llama_vocab_eos(self.vocab))

    @property
    def adds_bos(self) -> bool:
        return bool(self.lib.llama_vocab_get_add_bos(self.vocab))

    def is_end(self, token: int) -> bool:
        return bool(self.lib.llama_vocab_is_eog(self.vocab, token))

    def is_control(self, token: int) -> bool:
        """Whether ``token`` is a control token (its text never shows in the output)."""
        attributes = int(self.lib.llama_vocab_get_attr(self.vocab, token))
        return bool(attributes & int(self.lib.LLAMA_TOKEN_ATTR_CONTROL))

    def piece(self, token: int) -> bytes:
        """The bytes ``token`` adds to the text (nothing for control tokens)."""
        size = 32
        while True:
            buffer = ctypes.create_string_buffer(size)
            n = self.lib.llama_token_to_piece(self.vocab, token, buffer, size, 0, False)
            if n >= 0:
                return bytes(buffer.raw[:n])
            size = -n

    def tokenize(self, text: str, add_special: bool, parse_special: bool) -> list[int]:
        data = text.encode()
        size = len(data) + 8
        while True:
            tokens = (self.lib.llama_token * size)()
            n = self.lib.llama_tokenize(
                self.vocab, data, len(data), tokens, size, add_special, parse_special
            )
            if n >= 0:
                return list(tokens[:n])
            size = -n

    def detokenize(self, tokens: list[int]) -> str:
        """The text of ``tokens``, control tokens left out; an incomplete UTF-8 character at
        the end shows as U+FFFD (the detokenizer waits for the rest)."""
        if not tokens:
            return ""
        array = (self.lib.llama_token * len(tokens))(*tokens)
        size = len(tokens) * 8 + 16
        while True:
            buffer = ctypes.create_string_buffer(size)
            n = self.lib.llama_detokenize(
                self.vocab, array, len(tokens), buffer, size, False, False
            )
            if n >= 0:
                return buffer.raw[:n].decode(errors="replace")
            size = -n

    def kv_bytes(self, cells: int) -> int:
        """Bytes of a float16 KV cache of ``cells`` tokens: keys and values, every layer,
        the key/value heads' width (from the metadata where it says, else n_embd / n_head)."""
        arch = self.meta("general.architecture") or "llama"
        default = self.n_embd // max(1, self.n_head)
        width_k = int(self.meta(f"{arch}.attention.key_length") or default) * self.n_head_kv
        width_v = int(self.meta(f"{arch}.attention.value_length") or default) * self.n_head_kv
        return cells * self.n_layer * (width_k + width_v) * KV_BYTES_PER_VALUE

    def close(self) -> None:
        if self.ptr:
            self.lib.llama_model_free(self.ptr)
            self.ptr = None


@dataclass(frozen=True)
class ContextShape:
    """How big a context to make."""

    n_ctx: int
    """Tokens per sequence."""
    sequences: int
    batch: int
    threads: int
    embeddings: bool = False
    pooling: int = -1
    """llama.cpp's ``LLAMA_POOLING_TYPE_*`` (-1: as the model says)."""


class Context:
    """A llama.cpp context over a :class:`Model`: its KV cache holds ``sequences`` separate
    streams of ``n_ctx`` tokens each; one batch may carry tokens of all of them."""

    def __init__(self, model: Model, shape: ContextShape) -> None:
        lib = self.lib = model.lib
        self.model, self.shape = model, shape
        params = lib.llama_context_default_params()
        params.n_ctx = shape.n_ctx * shape.sequences
        params.n_batch = params.n_ubatch = shape.batch
        params.n_seq_max = shape.sequences
        params.n_threads = params.n_threads_batch = shape.threads
        # Pooling needs each sequence whole in one micro-batch, which llama.cpp only does
        # with one KV buffer for all sequences; generation is faster with one per sequence.
        params.kv_unified = shape.embeddings
        params.embeddings = shape.embeddings
        params.pooling_type = shape.pooling
        params.no_perf = True
        self.ptr = lib.llama_init_from_model(model.ptr, params)
        if not self.ptr:
            raise errors.ModelLoadFailed(
                f"llama.cpp could not make a context of {shape.sequences} x {shape.n_ctx} "
                "tokens: lower n_ctx or parallel in the catalog entry."
            )
        self.cells = int(lib.llama_n_ctx(self.ptr))
        self.memory = lib.llama_get_memory(self.ptr)
        self.batch = lib.llama_batch_init(shape.batch, 0, 1)
        self.pooling = int(lib.llama_pooling_type(self.ptr))

    def kv_bytes(self) -> int:
        return 0 if not self.memory else self.model.kv_bytes(self.cells)

    def decode(self, tokens: list[tuple[int, int, int, bool]]) -> None:
        """Decode ``(token, position, sequence, wants logits)`` rows in one llama_decode."""
        batch = self.batch
        for i, (token, position, sequence, logits) in enumerate(tokens):
            batch.token[i] = token
            batch.pos[i] = position
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = sequence
            batch.logits[i] = logits
        batch.n_tokens = len(tokens)
        code = int(self.lib.llama_decode(self.ptr, batch))
        if code != 0:
            raise errors.ModelError(f"llama.cpp could not decode the batch (llama_decode {code}).")

    def logits(self, row: int) -> Any:
        """Batch row ``row``'s logits after :meth:`decode`, as a writable float32 array over
        llama.cpp's own buffer (the samplers read what is written there)."""
        import numpy as np

        values = self.lib.llama_get_logits_ith(self.ptr, row)
        return np.ctypeslib.as_array(values, shape=(self.model.n_vocab,))

    def forget(self, sequence: int) -> None:
        """Drop one sequence's tokens from the KV cache."""
        if self.memory:
            self.lib.llama_memory_seq_rm(self.memory, sequence, -1, -1)

    def clear(self) -> None:
        if self.memory:
            self.lib.llama_memory_clear(self.memory, True)

    def pooled(self, sequence: int, width: int) -> list[float]:
        """The pooled embedding of a sequence after :meth:`decode`."""
        values = self.lib.llama_get_embeddings_seq(self.ptr, sequence)
        if not values:
            raise errors.ModelError(
                "llama.cpp gave no pooled embedding: set the runner option pooling "
                "(mean, cls or last) for this model."
            )
        return [float(values[i]) for i in range(width)]

    def close(self) -> None:
        if self.ptr:
            self.lib.llama_batch_free(self.batch)
            self.lib.llama_free(self.ptr)
            self.ptr = None


class Sampler:
    """A llama.cpp sampler chain for one sequence: repeat penalty, top-k, top-p, min-p,
    temperature and a seeded draw, or greedy below temperature 1e-5."""

    def __init__(self, model: Model, sampling: Sampling) -> None:
        lib = self.lib = model.lib
        self.ptr = lib.llama_sampler_chain_init(lib.llama_sampler_chain_default_params())
        if sampling.repeat_penalty != 1.0:
            penalties = lib.llama_sampler_init_penalties(
                model.n_vocab, PENALTY_WINDOW, sampling.repeat_penalty, 0.0, 0.0
            )
            self._add(penalties)
        if sampling.temperature < GREEDY_BELOW:
            self._add(lib.llama_sampler_init_greedy())
            return
        if sampling.top_k > 0:
            self._add(lib.llama_sampler_init_top_k(sampling.top_k))
        if sampling.top_p < 1.0:
            self._add(lib.llama_sampler_init_top_p(sampling.top_p, 1))
        if sampling.min_p > 0.0:
            self._add(lib.llama_sampler_init_min_p(sampling.min_p, 1))
        self._add(lib.llama_sampler_init_temp(sampling.temperature))
        seed = sampling.seed % 2**32 if sampling.seed is not None else secrets.randbits(32)
        self._add(lib.llama_sampler_init_dist(seed))

    def _add(self, sampler: Any) -> None:
        self.lib.llama_sampler_chain_add(self.ptr, sampler)

    def sample(self, context: Context, row: int) -> int:
        """The next token from the logits of batch row ``row`` (accepted into the chain)."""
        return int(self.lib.llama_sampler_sample(self.ptr, context.ptr, row))

    def close(self) -> None:
        if self.ptr:
            self.lib.llama_sampler_free(self.ptr)
            self.ptr = None
