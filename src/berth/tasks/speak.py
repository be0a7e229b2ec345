"""What text-to-speech runners take and give: a :class:`SpeechRequest` in, :class:`Speech` out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from berth.tasks.task import ModelTask, Task

MIN_SPEED, MAX_SPEED = 0.25, 4.0
"""The range of ``speed`` (1.0 is the voice's normal pace), as OpenAI's speech API allows."""


@dataclass(frozen=True)
class SpeechRequest:
    """Text to speak, in a voice (None: the model's default) at a speed (1.0 normal)."""

    text: str
    voice: str | None = None
    speed: float = 1.0


@dataclass(frozen=True)
class Speech:
    """Spoken audio: float32 mono samples in [-1, 1] at ``sample_rate`` Hz."""

    samples: np.ndarray[Any, np.dtype[np.float32]]
    sample_rate: int

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return len(self.samples) / self.sample_rate if self.sample_rate else 0.0


SPEAK = ModelTask("speech", frozenset({Task.SPEAK}), Speech)
