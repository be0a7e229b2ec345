"""Voice activity: ``POST /v1/audio/vad`` (speech segments with start and end times)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from pydantic import BaseModel

from berth.http.auth import InferCaller
from berth.http.runtime import ServicesDep
from berth.services.audio import DEFAULT_VAD

router = APIRouter(tags=["audio"])


class SpeechSpan(BaseModel):
    """Speech from ``start`` to ``end``, in seconds from the start of the upload."""

    start: float
    end: float


class VadResponse(BaseModel):
    """Where the speech is."""

    model: str
    duration: float
    speech_seconds: float
    spans: list[SpeechSpan]


@router.post("/v1/audio/vad", response_model=VadResponse)
async def detect_speech(
    request: Request,
    key: InferCaller,
    services: ServicesDep,
    file: Annotated[UploadFile, File(description="The audio: WAV, FLAC, OGG or MP3.")],
    model: Annotated[str, Form(description="A voice activity model's alias.")] = DEFAULT_VAD,
    threshold: Annotated[float, Form(gt=0, lt=1, description="Speech probability.")] = 0.5,
    min_speech_ms: Annotated[int, Form(ge=0, le=60_000)] = 250,
    min_silence_ms: Annotated[int, Form(ge=0, le=60_000)] = 100,
) -> VadResponse:
    """The spans of speech in an audio file."""
    request.state.model = model
    found = await services.audio.speech(
        key,
        model,
        await file.read(),
        threshold=threshold,
        min_speech_ms=min_speech_ms,
        min_silence_ms=min_silence_ms,
        name=f"The file '{file.filename or 'upload'}'",
    )
    return VadResponse(
        model=model,
        duration=round(found.duration, 3),
        speech_seconds=round(found.speech_seconds, 3),
        spans=[SpeechSpan(start=s.start, end=s.end) for s in found.spans],
    )
