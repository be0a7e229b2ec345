"""Speech: transcriptions and voice activity for the API and for jobs.

An upload is decoded in a worker thread, then sent to the model pool. With a VAD model
named, a transcription first finds the speech, transcribes only those spans (as one batch)
and maps their segments back onto the whole recording's clock.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import replace

from berth.keys.key import ApiKey
from berth.media.audio import Audio, AudioLimits, decode_audio
from berth.services.inference import InferenceService
from berth.tasks.calls import ModelCalls
from berth.tasks.transcribe import (
    SAMPLE_RATE,
    TRANSCRIBE,
    AsrTask,
    Samples,
    Segment,
    Transcript,
    TranscriptionRequest,
)
from berth.tasks.vad import VAD, SpeechSpans, VadRequest

DEFAULT_VAD = "silero-vad"


async def find_speech(models: ModelCalls, alias: str, request: VadRequest) -> SpeechSpans:
    """The spans of speech in ``request``'s audio, from the VAD model ``alias``."""
    [spans] = await models.run(alias, VAD, [request])
    return spans


async def transcribe(
    models: ModelCalls, alias: str, request: TranscriptionRequest, vad: str | None = None
) -> Transcript:
    """The transcript of ``request``; with ``vad`` (a VAD model's alias), only its speech is
    transcribed and the segments keep the times of the whole recording."""
    if vad is None:
        [transcript] = await models.run(alias, TRANSCRIBE, [request])
        return transcript
    spans = await find_speech(models, vad, VadRequest(request.samples))
    if not spans.spans:
        return Transcript("", request.language, round(request.duration, 3), ())
    pieces = [
        replace(request, samples=_cut(request.samples, span.start, span.end))
        for span in spans.spans
    ]
    parts = await models.run(alias, TRANSCRIBE, pieces)
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
        caller: ApiKey | None,
        alias: str,
        data: bytes,
        *,
        language: str | None = None,
        task: AsrTask = "transcribe",
        prompt: str | None = None,
        vad: str | None = None,
        name: str = "The file",
    ) -> Transcript:
        """The transcript of the audio file ``data`` (see :func:`transcribe`); the models are
        checked before the upload is decoded."""
        models = self.inference.calls(caller)
        models.check(alias, TRANSCRIBE)
        if vad is not None:
            models.check(vad, VAD)
        audio = await self.decode(data, name)
        request = TranscriptionRequest(audio.samples, language, task, prompt=prompt)
        return await transcribe(models, alias, request, vad)

    async def speech(
        self,
        caller: ApiKey | None,
        alias: str,
        data: bytes,
        *,
        threshold: float = 0.5,
        min_speech_ms: int = 250,
        min_silence_ms: int = 100,
        name: str = "The file",
    ) -> SpeechSpans:
        """Where the speech is in the audio file ``data``."""
        models = self.inference.calls(caller)
        models.check(alias, VAD)
        audio = await self.decode(data, name)
        request = VadRequest(
            audio.samples,
            threshold=threshold,
            min_speech_ms=min_speech_ms,
            min_silence_ms=min_silence_ms,
        )
        return await find_speech(models, alias, request)
