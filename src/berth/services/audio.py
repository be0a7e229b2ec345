"""Speech: transcriptions and voice activity for the API and for jobs.

An upload is decoded in a worker thread, then sent to the model pool. With a VAD model
named, a transcription first finds the speech, transcribes only those spans (as one batch)
and maps their segments back onto the whole recording's clock.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Protocol

from berth import errors
from berth.media.audio import Audio, AudioLimits, decode_audio
from berth.services.inference import InferenceService
from berth.tasks.task import Task
from berth.tasks.transcribe import (
    SAMPLE_RATE,
    AsrTask,
    Samples,
    Segment,
    Transcript,
    TranscriptionRequest,
)
from berth.tasks.vad import SpeechSpans, VadRequest

TRANSCRIBE_TASKS = frozenset({Task.TRANSCRIBE})
VAD_TASKS = frozenset({Task.VAD})
DEFAULT_VAD = "silero-vad"


class ModelRuns(Protocol):
    """The model pool, as speech needs it (the pool and a job's ``ctx.models`` fit)."""

    async def run(self, alias: str, items: Sequence[Any]) -> list[Any]: ...


async def find_speech(models: ModelRuns, alias: str, request: VadRequest) -> SpeechSpans:
    """The spans of speech in ``request``'s audio, from the VAD model ``alias``."""
    [output] = await models.run(alias, [request])
    if isinstance(output, BaseException):
        raise output
    if not isinstance(output, SpeechSpans):
        raise errors.ModelError(
            f"Model '{alias}' did not return speech spans. Use a voice activity (vad) model."
        )
    return output


async def transcribe(
    models: ModelRuns, alias: str, request: TranscriptionRequest, vad: str | None = None
) -> Transcript:
    """The transcript of ``request``; with ``vad`` (a VAD model's alias), only its speech is
    transcribed and the segments keep the times of the whole recording."""
    if vad is None:
        return _checked(alias, (await models.run(alias, [request]))[0])
    spans = await find_speech(models, vad, VadRequest(request.samples))
    if not spans.spans:
        return Transcript("", request.language, round(request.duration, 3), ())
    pieces = [
        replace(request, samples=_cut(request.samples, span.start, span.end))
        for span in spans.spans
    ]
    outputs = await models.run(alias, pieces)
    parts = [_checked(alias, output) for output in outputs]
    segments = tuple(
        Segment(round(s.start + span.start, 3), round(s.end + span.start, 3), s.text)
        for span, part in zip(spans.spans, parts, strict=True)
        for s in part.segments
    )
    languages = Counter(part.language for part in parts if part.language)
    language = languages.most_common(1)[0][0] if languages else request.language
    text = " ".join(part.text for part in parts if part.text)
    return Transcript(text, language, round(request.duration, 3), segments)


def _cut(samples: Samples, start: float, end: float) -> Samples:
    return samples[int(start * SAMPLE_RATE) : int(end * SAMPLE_RATE)]


def _checked(alias: str, output: Any) -> Transcript:
    if isinstance(output, BaseException):
        raise output
    if not isinstance(output, Transcript):
        raise errors.ModelError(
            f"Model '{alias}' did not return a transcript. Use a speech-to-text (transcribe) model."
        )
    return output


class AudioService:
    """Transcriptions and speech spans of uploaded audio; shared by the API and the UI."""

    def __init__(self, inference: InferenceService, limits: AudioLimits | None = None) -> None:
        self.inference = inference
        self.limits = limits or AudioLimits()

    async def decode(self, data: bytes, name: str = "The file") -> Audio:
        """``data`` decoded to 16 kHz mono off the event loop; raises InvalidRequest (or its
        subclasses) for what cannot be used."""
        return await asyncio.to_thread(decode_audio, data, self.limits, name)

    async def transcribe(
        self,
        alias: str,
        data: bytes,
        *,
        language: str | None = None,
        task: AsrTask = "transcribe",
        prompt: str | None = None,
        vad: str | None = None,
        name: str = "The file",
    ) -> Transcript:
        """The transcript of the audio file ``data`` (see :func:`transcribe`)."""
        self.inference.model(alias, TRANSCRIBE_TASKS)
        if vad is not None:
            self.inference.model(vad, VAD_TASKS)
        audio = await self.decode(data, name)
        await self.inference.prepare(alias, TRANSCRIBE_TASKS)
        if vad is not None:
            await self.inference.prepare(vad, VAD_TASKS)
        request = TranscriptionRequest(audio.samples, language, task, prompt=prompt)
        return await transcribe(self.inference.pool, alias, request, vad)

    async def speech(
        self,
        alias: str,
        data: bytes,
        *,
        threshold: float = 0.5,
        min_speech_ms: int = 250,
        min_silence_ms: int = 100,
        name: str = "The file",
    ) -> SpeechSpans:
        """Where the speech is in the audio file ``data``."""
        self.inference.model(alias, VAD_TASKS)
        audio = await self.decode(data, name)
        await self.inference.prepare(alias, VAD_TASKS)
        request = VadRequest(
            audio.samples,
            threshold=threshold,
            min_speech_ms=min_speech_ms,
            min_silence_ms=min_silence_ms,
        )
        return await find_speech(self.inference.pool, alias, request)
