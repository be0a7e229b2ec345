"""The ``sentence-transformers`` runner: text embeddings with a SentenceTransformer model.

Inputs are strings (answered with float32 numpy vectors) or :class:`EmbedInput` items (text
or token ids; answered with :class:`Embedded`, which adds the count of tokens the model read).
The library is imported in :meth:`SentenceTransformerRunner.load`, inside the model process,
so registering the runner costs the server nothing.

It is a staged runner: :meth:`~SentenceTransformerRunner.prepare` tokenizes a batch (once,
also for the token counts) while the model runs the previous one, and
:meth:`~SentenceTransformerRunner.run_prepared` runs the forward pass, as
``SentenceTransformer.encode`` would for one batch.

The forward pass runs on ONNX Runtime on CPU where the model's pipeline allows (the
``engine`` option; see :mod:`berth.runners.onnx_encoder`), else on PyTorch under
``torch.inference_mode``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from berth import errors
from berth.models.spec import ModelSpec
from berth.runners.contract import check_options
from berth.tasks.embed import Embedded, EmbedInput

log = logging.getLogger(__name__)
OPTIONS = {
    "normalize": "Scale every vector to unit length (default false; models that end in a "
    "Normalize layer, like all-MiniLM-L6-v2, already do).",
    "engine": "What runs the forward pass: onnx (ONNX Runtime, CPU only), torch, or auto "
    "(default: onnx on CPU where the model's pipeline allows, about twice as fast; else torch).",
}
ENGINES = ("auto", "onnx", "torch")
DTYPES = {"float32", "float16", "bfloat16"}


@dataclass(frozen=True)
class Tokenized:
    """A batch as :meth:`SentenceTransformerRunner.prepare` leaves it."""

    texts: list[str]
    features: dict[str, Any] | None
    """The model's inputs (token ids, attention mask), or None where ``encode`` must run."""
    counts: list[int] | None
    """Tokens per input, if any input asked for them (an :class:`EmbedInput`)."""
    embedded: list[bool]
    """Which inputs are answered with :class:`Embedded` rather than a bare vector."""


def _special_tokens(tokenizer: Any) -> tuple[list[int], list[int]]:
    """The ids the tokenizer puts before and after a single text ([CLS] and [SEP], <s> and
    </s>, ...), read off how it tokenizes one."""
    inner = list(tokenizer("a", add_special_tokens=False)["input_ids"])
    whole = list(tokenizer("a")["input_ids"])
    for start in range(len(whole) - len(inner) + 1):
        if whole[start : start + len(inner)] == inner:
            return whole[:start], whole[start + len(inner) :]
    return [], []


def _release_weights(model: Any) -> None:
    """Free the PyTorch weights of a model that runs on ONNX Runtime (its tokenizer stays),
    and the memory the export left behind."""
    import ctypes
    import gc

    model[0].auto_model.to("meta")
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)  # glibc keeps freed memory otherwise


class SentenceTransformerRunner:
    """Turns a batch of strings into float32 numpy vectors, one per string."""

    concurrent = True
    """Its forward pass may run on several parts of a batch at once (the ``workers`` option):
    on PyTorch, not on ONNX Runtime, whose threads are the session's (set when it loads)."""

    def __init__(self) -> None:
        self._model: Any = None
        self._onnx: Any = None
        self.engine = "torch"
        """What runs the forward pass once loaded: "onnx" or "torch"."""
        self._normalize = False
        self._device = "cpu"
        self._direct = False
        """Whether a batch can be tokenized and run by hand: the model has no default prompt
        or truncated dimension that only ``encode`` applies."""

    def load(self, spec: ModelSpec, path: Path | None, device: str) -> None:
        if path is None:
            raise errors.ModelLoadFailed(
                f"Model '{spec.alias}' has no files: the sentence-transformers runner loads a "
                "model directory. Give the catalog entry a source."
            )
        check_options(spec, "sentence-transformers", OPTIONS)
        import transformers
        from sentence_transformers import SentenceTransformer

        quiet: Callable[[], None] = transformers.utils.logging.disable_progress_bar
        quiet()
        kwargs: dict[str, Any] = {}
        if spec.options.dtype in DTYPES:
            kwargs["model_kwargs"] = {"dtype": spec.options.dtype}
        self._model = SentenceTransformer(str(path), device=device, local_files_only=True, **kwargs)
        self._model.eval()
        self._normalize = bool(spec.options.runner_options.get("normalize", False))
        self._device = device
        self._direct = (
            getattr(self._model, "default_prompt_name", None) is None
            and getattr(self._model, "truncate_dim", None) is None
        )
        self._choose_engine(spec, device)

    def _choose_engine(self, spec: ModelSpec, device: str) -> None:
        """ONNX Runtime where asked (or by default) and possible, else PyTorch."""
        engine = str(spec.options.runner_options.get("engine", "auto"))
        if engine not in ENGINES:
            raise errors.ModelLoadFailed(
                f"Model '{spec.alias}': engine is {engine!r}; use one of {', '.join(ENGINES)}."
            )
        if engine == "torch":
            return
        reason = None
        if device != "cpu":
            reason = f"it runs on {device} (ONNX Runtime is used on CPU only)"
        elif spec.options.dtype in ("float16", "bfloat16"):
            reason = f"its dtype is {spec.options.dtype}"
        elif not self._direct:
            reason = "it has a default prompt or a truncated dimension"
        else:
            import torch

            from berth.runners import onnx_encoder

            # As many math threads as PyTorch would use (cpu_threads, else its default).
            threads = spec.options.cpu_threads or torch.get_num_threads()
            try:
                self._onnx = onnx_encoder.build(self._model, threads, self._normalize)
            except onnx_encoder.Unsupported as exc:
                reason = str(exc)
        if reason is not None:
            if engine == "onnx":
                raise errors.ModelLoadFailed(
                    f"Model '{spec.alias}' cannot run on ONNX Runtime: {reason}. Set engine "
                    'to "torch" or "auto" in its runner_options.'
                )
            log.info(
                "embedding model runs on PyTorch",
                extra={"action": "runner.engine", "model": spec.alias, "reason": reason},
            )
            return
        self.engine = "onnx"
        self.concurrent = False
        _release_weights(self._model)

    def run(self, batch: Sequence[Any]) -> list[Any]:
        return self.run_prepared(self.prepare(batch))

    def prepare(self, batch: Sequence[Any]) -> Tokenized:
        """Tokenize the batch (on the pool's preparing thread); token ids go to the model as
        they are, within the model's special tokens."""
        if self._model is None:
            raise errors.ModelError("The sentence-transformers runner has no model loaded.")
        ids = [item.tokens if isinstance(item, EmbedInput) else None for item in batch]
        embedded = [isinstance(item, EmbedInput) for item in batch]
        if self._direct and any(tokens is not None for tokens in ids):
            texts = [
                "" if tokens is not None else self._text(item)
                for item, tokens in zip(batch, ids, strict=True)
            ]
            with_ids = self._with_ids(texts, ids)
            lengths = [int(n) for n in with_ids["attention_mask"].sum(dim=1).tolist()]
            return Tokenized(texts, with_ids, lengths, embedded)
        texts = [self._text(item) for item in batch]
        features = self._tokenize(texts) if texts and (self._direct or any(embedded)) else None
        counts: list[int] | None = None
        if features is not None and any(embedded):
            counts = [int(n) for n in features["attention_mask"].sum(dim=1).tolist()]
        return Tokenized(texts, features if self._direct else None, counts, embedded)

    def run_prepared(self, prepared: Tokenized) -> list[Any]:
        """The forward pass: one float32 vector (or :class:`Embedded`) per input."""
        if self._model is None:
            raise errors.ModelError("The sentence-transformers runner has no model loaded.")
        if not prepared.texts:
            return []
        vectors = self._forward(prepared)
        if prepared.counts is None:
            return list(vectors)
        return [
            Embedded(vector, count) if wanted else vector
            for wanted, vector, count in zip(
                prepared.embedded, vectors, prepared.counts, strict=True
            )
        ]

    def _with_ids(self, texts: list[str], ids: list[tuple[int, ...] | None]) -> dict[str, Any]:
        """The model's inputs for a batch where some inputs are token ids: those ids between
        the special tokens the tokenizer puts around a text, the texts tokenized, all cut at
        the model's length and padded together."""
        tokenizer, limit = self._model.tokenizer, self._model.max_seq_length
        head, tail = _special_tokens(tokenizer)
        room = max(0, limit - len(head) - len(tail))
        rows = [
            [*head, *tokens[:room], *tail]
            if tokens is not None
            else tokenizer(text, truncation=True, max_length=limit)["input_ids"]
            for text, tokens in zip(texts, ids, strict=True)
        ]
        features: dict[str, Any] = {
            key: value for key, value in self._tokenize(["a"]).items() if isinstance(value, str)
        }
        features.update(tokenizer.pad({"input_ids": rows}, return_tensors="pt"))
        if "token_type_ids" in tokenizer.model_input_names:
            import torch

            features["token_type_ids"] = torch.zeros_like(features["input_ids"])
        return features

    def _tokenize(self, texts: list[str]) -> dict[str, Any]:
        # sentence-transformers 6 renamed tokenize() to preprocess(); older ones lack it.
        tokenize = getattr(self._model, "preprocess", None) or self._model.tokenize
        features: dict[str, Any] = tokenize(texts)
        return features

    def _forward(self, prepared: Tokenized) -> Any:
        if self._onnx is not None and prepared.features is not None:
            return self._onnx.encode(prepared.features)
        if prepared.features is None:
            return self._model.encode(
                prepared.texts,
                batch_size=len(prepared.texts),
                convert_to_numpy=True,
                normalize_embeddings=self._normalize,
                show_progress_bar=False,
            ).astype("float32", copy=False)
        import torch
        from sentence_transformers.util import batch_to_device

        with torch.inference_mode():
            features = batch_to_device(prepared.features, self._model.device)
            vectors = self._model(features)["sentence_embedding"]
            if self._normalize:
                vectors = torch.nn.functional.normalize(vectors, p=2, dim=1)
            return vectors.float().cpu().numpy()

    def _text(self, item: Any) -> str:
        if isinstance(item, str):
            return item
        if isinstance(item, EmbedInput) and item.text is not None:
            return item.text
        if isinstance(item, EmbedInput) and item.tokens is not None:
            # Only for pipelines that must go through encode() (a default prompt, a truncated
            # dimension): encode takes text.
            return str(self._model.tokenizer.decode(list(item.tokens), skip_special_tokens=True))
        raise errors.InvalidRequest(
            f"Embedding inputs must be strings or token ids, not {type(item).__name__}."
        )

    def memory_bytes(self) -> int | None:
        return None

    def close(self) -> None:
        self._model = None
        self._onnx = None
        if self._device.startswith("cuda"):
            import torch

            torch.cuda.empty_cache()
