"""The ``sentence-transformers`` runner: text embeddings with a SentenceTransformer model.

Inputs are strings (answered with float32 numpy vectors) or :class:`EmbedInput` items (text
or token ids; answered with :class:`Embedded`, which adds the count of tokens the model read).
The library is imported in :meth:`SentenceTransformerRunner.load`, inside the model process,
so registering the runner costs the server nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from berth import errors
from berth.models.spec import ModelSpec
from berth.runners.embedding import Embedded, EmbedInput

OPTIONS = {
    "normalize": "Scale every vector to unit length (default false; models that end in a "
    "Normalize layer, like all-MiniLM-L6-v2, already do).",
}
DTYPES = {"float32", "float16", "bfloat16"}


class SentenceTransformerRunner:
    """Turns a batch of strings into float32 numpy vectors, one per string."""

    def __init__(self) -> None:
        self._model: Any = None
        self._normalize = False
        self._device = "cpu"

    def load(self, spec: ModelSpec, path: Path | None, device: str) -> None:
        if path is None:
            raise errors.ModelLoadFailed(
                f"Model '{spec.alias}' has no files: the sentence-transformers runner loads a "
                "model directory. Give the catalog entry a source."
            )
        unknown = set(spec.options.runner_options) - OPTIONS.keys()
        if unknown:
            raise errors.ModelLoadFailed(
                f"Model '{spec.alias}': the sentence-transformers runner has no option(s) "
                f"{', '.join(sorted(unknown))}. Known options: {', '.join(sorted(OPTIONS))}."
            )
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

    def run(self, batch: Sequence[Any]) -> list[Any]:
        if self._model is None:
            raise errors.ModelError("The sentence-transformers runner has no model loaded.")
        texts = [self._text(item) for item in batch]
        vectors = self._model.encode(
            texts,
            batch_size=max(len(texts), 1),
            convert_to_numpy=True,
            normalize_embeddings=self._normalize,
            show_progress_bar=False,
        ).astype("float32", copy=False)
        if not any(isinstance(item, EmbedInput) for item in batch):
            return list(vectors)
        # sentence-transformers 6 renamed tokenize() to preprocess(); older ones lack it.
        encode = getattr(self._model, "preprocess", None) or self._model.tokenize
        counts = encode(texts)["attention_mask"].sum(dim=1).tolist()
        return [
            Embedded(vector, int(count)) if isinstance(item, EmbedInput) else vector
            for item, vector, count in zip(batch, vectors, counts, strict=True)
        ]

    def _text(self, item: Any) -> str:
        if isinstance(item, str):
            return item
        if isinstance(item, EmbedInput) and item.text is not None:
            return item.text
        if isinstance(item, EmbedInput) and item.tokens is not None:
            return str(self._model.tokenizer.decode(list(item.tokens), skip_special_tokens=True))
        raise errors.InvalidRequest(
            f"Embedding inputs must be strings or token ids, not {type(item).__name__}."
        )

    def memory_bytes(self) -> int | None:
        return None

    def close(self) -> None:
        self._model = None
        if self._device.startswith("cuda"):
            import torch

            torch.cuda.empty_cache()
