"""The ``vad`` task: audio in, the spans that hold speech out (times in seconds)."""

from __future__ import annotations

from dataclasses import dataclass

from berth.tasks.task import ModelTask, Task
from berth.tasks.transcribe import SAMPLE_RATE, Samples


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


VAD = ModelTask("speech spans", frozenset({Task.VAD}), SpeechSpans)
