"""Server VAD: where the user starts and stops speaking in the session's input audio.

The detector keeps the uncommitted audio (16 kHz) and, every ``CHECK_MS`` of new audio, asks
the VAD model for the spans of speech in it. Speech has started when a span appears; it has
stopped when the last span ended ``silence_duration_ms`` or more before the end of the
audio. Times are milliseconds on the session's audio clock: from the first sample appended.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import numpy as np

from berth.media.audio import resample
from berth.realtime.config import TurnDetection
from berth.tasks.transcribe import SAMPLE_RATE, Samples
from berth.tasks.vad import SpeechSpans, VadRequest

CHECK_MS = 96
"""How much new audio (three of the VAD's 32 ms windows) waits before the next check."""
LISTEN_MS = 1500
"""Before speech, how much of the latest audio the VAD reads."""
MIN_SPEECH_MS = 150
"""Shorter bursts (a click, a breath) are not speech."""

FindSpeech = Callable[[VadRequest], Awaitable[SpeechSpans]]


@dataclass(frozen=True)
class SpeechStarted:
    audio_start_ms: int


@dataclass(frozen=True)
class SpeechStopped:
    audio_end_ms: int
    audio: Samples
    """The turn's audio: from ``prefix_padding_ms`` before the speech to where it stopped."""


TurnEvent = SpeechStarted | SpeechStopped


class TurnDetector:
    """Feeds appended audio to the VAD model and says when a turn starts and ends."""

    def __init__(self, find_speech: FindSpeech, rate: int = SAMPLE_RATE) -> None:
        self.find_speech = find_speech
        self.rate = rate
        """The buffer's sample rate: the wire's, so audio is resampled once per window read,
        never chunk by chunk (which would put a click at every chunk's edge)."""
        self.chunks: list[Samples] = []
        self.size = 0
        self.clock = 0
        """Samples appended in the whole session before the buffer's first sample."""
        self.unchecked = 0
        self.speaking_from: int | None = None
        """Where (in buffer samples) the speech that is going on started."""

    def _ms(self, samples: int) -> int:
        return samples * 1000 // self.rate

    @property
    def buffered_ms(self) -> int:
        return self._ms(self.size)

    def audio(self) -> Samples:
        if not self.chunks:
            return np.zeros(0, np.float32)
        if len(self.chunks) > 1:
            self.chunks = [np.concatenate(self.chunks)]
        return self.chunks[0]

    def append(self, samples: Samples) -> None:
        self.chunks.append(samples)
        self.size += len(samples)
        self.unchecked += len(samples)

    def take_speech(self, start: int = 0, end: int | None = None) -> Samples:
        """:meth:`take`, at the 16 kHz the speech models read."""
        return resample(self.take(start, end), self.rate, SAMPLE_RATE)

    def take(self, start: int = 0, end: int | None = None) -> Samples:
        """The buffer's audio from ``start`` to ``end`` (samples), and the buffer emptied up to
        ``end``."""
        audio = self.audio()
        taken = audio[start : self.size if end is None else end]
        self.clock += self.size if end is None else end
        rest = audio[end:] if end is not None else audio[:0]
        self.chunks, self.size, self.unchecked = [rest] if len(rest) else [], len(rest), 0
        self.speaking_from = None
        return taken

    def clear(self) -> None:
        self.take()

    async def detect(self, turns: TurnDetection) -> list[TurnEvent]:
        """What the audio appended since the last call says, once enough of it has arrived.

        The VAD reads a bounded window, so a check costs the same however long the session
        runs: before speech, the last ``LISTEN_MS`` (older silence is dropped from the buffer,
        keeping the prefix padding); during speech, from just before it started."""
        if self._ms(self.unchecked) < CHECK_MS:
            return []
        self.unchecked = 0
        audio = self.audio()
        if self.speaking_from is None:
            base = max(0, self.size - LISTEN_MS * self.rate // 1000)
        else:
            base = max(0, self.speaking_from - CHECK_MS * self.rate // 1000)
        spans = await self.find_speech(
            VadRequest(
                audio[base:],
                sample_rate=self.rate,
                threshold=turns.threshold,
                min_speech_ms=MIN_SPEECH_MS,
                min_silence_ms=turns.silence_duration_ms,
                pad_ms=0,
            )
        )
        events: list[TurnEvent] = []
        if not spans.spans:
            if self.speaking_from is None:
                self._forget_silence(turns)
            return events
        if self.speaking_from is None:
            self.speaking_from = base + int(spans.spans[0].start * self.rate)
            events.append(SpeechStarted(self._ms(self.clock + self.speaking_from)))
        last_end = base + int(spans.spans[-1].end * self.rate)
        silence = self.size - last_end
        if self._ms(silence) + 32 >= turns.silence_duration_ms:
            begin = max(0, self.speaking_from - turns.prefix_padding_ms * self.rate // 1000)
            end_ms = self._ms(self.clock + last_end)
            events.append(SpeechStopped(end_ms, self.take_speech(begin, last_end)))
        return events

    def _forget_silence(self, turns: TurnDetection) -> None:
        keep = (turns.prefix_padding_ms + LISTEN_MS) * self.rate // 1000
        if self.size > 2 * keep:
            self.take(0, self.size - keep)
