"""The ``transcribe`` task: speech in, text with timed segments out.

Audio crosses the process boundary as float32 mono numpy samples; times are in seconds from
the start of the samples a runner was given.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from berth.tasks.task import ModelTask, Task

SAMPLE_RATE = 16_000
"""The rate every speech model here reads, in samples per second."""

Samples = np.ndarray[Any, np.dtype[np.float32]]
AsrTask = Literal["transcribe", "translate"]


@dataclass(frozen=True)
class TranscriptionRequest:
    """Speech to turn into text: 16 kHz float32 mono ``samples``.

    ``language`` is an ISO code ("en") or None to let the model find it; ``task`` "translate"
    asks a Whisper model for English text; ``timestamps`` asks for segment times finer than
    the model's windows where the model can give them."""

    samples: Samples
    language: str | None = None
    task: AsrTask = "transcribe"
    timestamps: bool = False
    prompt: str | None = None

    @property
    def duration(self) -> float:
        return len(self.samples) / SAMPLE_RATE


@dataclass(frozen=True)
class Segment:
    """A stretch of text with its start and end in seconds."""

    start: float
    end: float
    text: str


@dataclass(frozen=True)
class Transcript:
    """The text of some audio, its language (if the model knows it), the audio's duration in
    seconds and its segments in order."""

    text: str
    language: str | None
    duration: float
    segments: tuple[Segment, ...]


TRANSCRIBE = ModelTask("a transcript", frozenset({Task.TRANSCRIBE}), Transcript)
