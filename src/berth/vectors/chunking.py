"""Chunking a file's text into overlapping windows of tokens, as OpenAI's vector stores do.

``auto`` is 800 tokens with 400 overlapping (OpenAI's documented default); ``static`` names
both, ``max_chunk_size_tokens`` from 100 to 4096 and ``chunk_overlap_tokens`` at most half of
it. Tokens are the embedding model's own when it has a tokenizer (so a chunk is exactly what
the model reads, sent to it as token ids); otherwise words and the spaces between them stand
in for tokens.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from berth import errors

AUTO_SIZE, AUTO_OVERLAP = 800, 400
MIN_SIZE, MAX_SIZE = 100, 4096
WORDS = re.compile(r"\S+\s*")


@dataclass(frozen=True, slots=True)
class Chunking:
    """A static chunking: windows of ``size`` tokens, each sharing ``overlap`` with the last."""

    size: int = AUTO_SIZE
    overlap: int = AUTO_OVERLAP

    def as_openai(self) -> dict[str, Any]:
        """The strategy as OpenAI reports it on a file (``auto`` resolves to static)."""
        return {
            "type": "static",
            "static": {"max_chunk_size_tokens": self.size, "chunk_overlap_tokens": self.overlap},
        }


def chunking_of(data: Any, where: str = "chunking_strategy") -> Chunking:
    """The chunking ``data`` asks for (None: auto); InvalidRequest naming the field."""
    if data is None:
        return Chunking()
    if not isinstance(data, dict) or data.get("type") not in {"auto", "static"}:
        raise errors.InvalidRequest(
            f"{where}: must be {{'type': 'auto'}} or {{'type': 'static', 'static': "
            "{'max_chunk_size_tokens': N, 'chunk_overlap_tokens': M}}."
        )
    if data["type"] == "auto":
        return Chunking()
    static = data.get("static")
    if not isinstance(static, dict):
        raise errors.InvalidRequest(f"{where}.static: a static strategy needs its sizes.")
    size = static.get("max_chunk_size_tokens")
    overlap = static.get("chunk_overlap_tokens")
    if not isinstance(size, int) or isinstance(size, bool) or not MIN_SIZE <= size <= MAX_SIZE:
        raise errors.InvalidRequest(
            f"{where}.static.max_chunk_size_tokens: must be a whole number from {MIN_SIZE} "
            f"to {MAX_SIZE}, not {size!r}."
        )
    if not isinstance(overlap, int) or isinstance(overlap, bool) or not 0 <= overlap <= size // 2:
        raise errors.InvalidRequest(
            f"{where}.static.chunk_overlap_tokens: must be a whole number from 0 to half of "
            f"max_chunk_size_tokens ({size // 2}), not {overlap!r}."
        )
    return Chunking(size, overlap)


class Tokenizer(Protocol):
    """What chunking needs of a model's tokenizer."""

    def ids(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        """The text's token ids (no special tokens) and each one's character span."""
        ...


@dataclass(frozen=True, slots=True)
class Piece:
    """One chunk: its text, its token ids (when a tokenizer made them) and token count."""

    text: str
    tokens: int
    ids: tuple[int, ...] | None = None


def _windows(count: int, chunking: Chunking) -> Iterator[tuple[int, int]]:
    step = chunking.size - chunking.overlap
    start = 0
    while start < count:
        end = min(count, start + chunking.size)
        yield start, end
        if end == count:
            return
        start += step


def split(text: str, chunking: Chunking, tokenizer: Tokenizer | None = None) -> list[Piece]:
    """The text's chunks in order; none for a text that is only white space."""
    if not text.strip():
        return []
    if tokenizer is None:
        words = [m.group(0) for m in WORDS.finditer(text)]
        return [
            Piece("".join(words[a:b]).strip(), b - a) for a, b in _windows(len(words), chunking)
        ]
    ids, spans = tokenizer.ids(text)
    pieces = []
    for a, b in _windows(len(ids), chunking):
        piece = text[spans[a][0] : spans[b - 1][1]].strip()
        if piece:
            pieces.append(Piece(piece, b - a, tuple(ids[a:b])))
    return pieces


class HuggingFaceTokenizer:
    """A :class:`Tokenizer` over a ``tokenizer.json`` (the ``tokenizers`` library)."""

    def __init__(self, path: str) -> None:
        from tokenizers import Tokenizer as Loaded

        self._tokenizer = Loaded.from_file(path)
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()

    def ids(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        encoded = self._tokenizer.encode(text, add_special_tokens=False)
        return list(encoded.ids), [tuple(span) for span in encoded.offsets]  # type: ignore[misc]
