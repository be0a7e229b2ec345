"""What speech-to-text and voice-activity runners take and give back.

Audio crosses the process boundary as float32 mono numpy samples; times are in seconds from
the start of the samples a runner was given.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

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


@dataclass(frozen=True)
class VadRequest:
    """Audio to find speech in.

    ``threshold`` is the speech probability (0..1) that starts speech; ``min_speech_ms``
    drops shorter stretches; ``min_silence_ms`` is the pause that ends one; ``pad_ms`` widens
    each span on both sides."""

    samples: Samples
    sample_rate: int = SAMPLE_RATE
    threshold: float = 0.5
    min_speech_ms: int = 250
    min_silence_ms: int = 100
    pad_ms: int = 30


@dataclass(frozen=True)
class Span:
    """Speech from ``start`` to ``end`` seconds."""

    start: float
    end: float


@dataclass(frozen=True)
class SpeechSpans:
    """Where the speech is, in order, and the audio's duration in seconds."""

    spans: tuple[Span, ...]
    duration: float

    @property
    def speech_seconds(self) -> float:
        return sum(span.end - span.start for span in self.spans)
