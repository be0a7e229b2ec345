"""The ``embed`` task: text or token ids in, a float32 vector out.

Callers send :class:`EmbedInput` items (text, or token ids in the model's vocabulary, which
reach the model as ids) and get :class:`Embedded` items that also count the tokens the model
read, for the API's ``usage``. A runner's ``run`` also takes plain strings and returns plain
vectors, for code that calls it directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from berth.tasks.task import ModelTask, Task


@dataclass(frozen=True)
class EmbedInput:
    """Text, or token ids in the model's own vocabulary."""

    text: str | None = None
    tokens: tuple[int, ...] | None = None


@dataclass(frozen=True)
class Embedded:
    """One vector and the number of tokens the model read to make it."""

    vector: np.ndarray[Any, np.dtype[np.float32]]
    tokens: int


EMBED = ModelTask("embeddings", frozenset({Task.EMBED}), Embedded)
