"""The ``echo`` runner: a deterministic stand-in for a model, for tests and demos.

It returns its inputs, or, with ``dimensions`` set, a unit vector derived from each input's
text (the same text always gives the same vector), and streams a text word by word. It also
speaks the API's runner types: an :class:`EmbedInput` gets an :class:`Embedded` vector, and a
:class:`GenerationRequest` gets its prompt (or last user message) back as the generated text,
cut at a stop sequence and at ``max_tokens`` words (words stand in for tokens).
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from berth import errors
from berth.models.spec import ModelSpec
from berth.runners.contract import Cancelled, check_options, never_cancelled
from berth.tasks.embed import Embedded, EmbedInput
from berth.tasks.generate import FinishReason, Generation, GenerationRequest, TextDelta, cut_at_stop

OPTIONS = {
    "dimensions": "Return a float32 unit vector of this many dimensions per input (default 0: "
    "return the input).",
    "delay_ms": "Sleep this long per batch, to stand in for a model's work (default 0).",
    "chunk_delay_ms": "Sleep this long before each streamed chunk (default 0).",
    "memory_bytes": "Report this many bytes as the model's memory (default: let the pool measure).",
    "fail_on": "Fail the whole batch when an input's text equals this string.",
}
EMBED_DIMENSIONS = 8
"""Vector size for EmbedInput items when ``dimensions`` is not set."""


def text_of(item: Any) -> str:
    """The text of an input: the string itself, a dict's ``"text"``, an EmbedInput's text
    (or its token ids, space-separated), a GenerationRequest's prompt or last message."""
    if isinstance(item, str):
        return item
    if isinstance(item, EmbedInput):
        return item.text if item.text is not None else " ".join(map(str, item.tokens or ()))
    if isinstance(item, GenerationRequest):
        if item.prompt is not None:
            return item.prompt
        return item.messages[-1].content if item.messages else ""
    text = item.get("text") if isinstance(item, dict) else None
    if isinstance(text, str):
        return text
    raise errors.InvalidRequest(
        f"The echo runner takes strings or {{'text': ...}} dicts, not {type(item).__name__}."
    )


def vector_of(text: str, dimensions: int) -> np.ndarray[Any, np.dtype[np.float32]]:
    """A unit vector that depends only on ``text``."""
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    vector = np.random.default_rng(seed).standard_normal(dimensions).astype(np.float32)
    return vector / np.float32(np.linalg.norm(vector))


def generate(request: GenerationRequest) -> tuple[list[str], Generation]:
    """What the echo model answers: the prompt (or the last user message) echoed back,
    cut at the first stop sequence and at ``max_tokens`` words. Words stand in for tokens."""
    if request.is_chat:
        users = [m.content for m in request.messages if m.role == "user"]
        source = users[-1] if users else ""
        prompt_words = sum(len(m.content.split()) for m in request.messages)
    else:
        source = request.prompt or ""
        prompt_words = len(source.split())
    text, _ = cut_at_stop(source, request.stop)
    words = text.split()
    finish: FinishReason = "stop"
    if request.max_tokens is not None and len(words) > request.max_tokens:
        words, finish = words[: request.max_tokens], "length"
    pieces = [word if i == 0 else f" {word}" for i, word in enumerate(words)]
    done = Generation("".join(pieces), finish, prompt_words, len(words))
    return pieces, done


class EchoRunner:
    """Returns what it is given; see the module docstring for its options."""

    def __init__(self) -> None:
        self._options: dict[str, Any] = {}

    def load(self, spec: ModelSpec, path: Path | None, device: str) -> None:
        check_options(spec, "echo", OPTIONS)
        self._options = dict(spec.options.runner_options)

    def run(self, batch: Sequence[Any]) -> list[Any]:
        self._work(batch)
        return [self._answer(item) for item in batch]

    def stream(
        self, batch: Sequence[Any], cancelled: Cancelled = never_cancelled
    ) -> Iterator[tuple[int, Any]]:
        self._work(batch)
        for index, item in enumerate(batch):
            if cancelled(index):
                continue
            words = text_of(item).split()
            if not isinstance(item, GenerationRequest):
                for word in words:
                    self._pause()
                    yield index, word
                continue
            pieces, done = generate(item)
            for piece in pieces:
                if cancelled(index):
                    break
                self._pause()
                yield index, TextDelta(piece)
            yield index, dataclasses.replace(done, text="")

    def _answer(self, item: Any) -> Any:
        dimensions = int(self._options.get("dimensions", 0))
        if isinstance(item, EmbedInput):
            text = text_of(item)
            return Embedded(vector_of(text, dimensions or EMBED_DIMENSIONS), len(text.split()))
        if isinstance(item, GenerationRequest):
            return generate(item)[1]
        if dimensions > 0:
            return vector_of(text_of(item), dimensions)
        return item

    def memory_bytes(self) -> int | None:
        reported = self._options.get("memory_bytes")
        return None if reported is None else int(reported)

    def close(self) -> None:
        self._options = {}

    def _pause(self) -> None:
        delay = float(self._options.get("chunk_delay_ms", 0)) / 1000
        if delay > 0:
            time.sleep(delay)

    def _work(self, batch: Sequence[Any]) -> None:
        fail_on = self._options.get("fail_on")
        if fail_on is not None and any(text_of(item) == fail_on for item in batch):
            raise ValueError(f"the echo runner was told to fail on {fail_on!r}")
        delay = float(self._options.get("delay_ms", 0)) / 1000
        if delay > 0:
            time.sleep(delay)
