"""What embedding runners take and give back when the caller wants token counts.

A runner's ``run`` accepts plain strings (and returns plain float32 vectors), or
:class:`EmbedInput` items (text or token ids) and returns :class:`Embedded` items that also
count the tokens the model read, for the API's ``usage``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class EmbedInput:
    """Text, or token ids in the model's own vocabulary."""

    text: str | None = None
    tokens: tuple[int, ...] | None = None


@dataclass(frozen=True)
class Embedded:
    """One vector and the number of tokens the model read to make it."""

    vector: Any
    tokens: int
