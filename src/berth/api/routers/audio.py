"""Speech-to-text: ``POST /v1/audio/transcriptions`` (multipart, as OpenAI's).

Berth adds one optional field, ``vad``: the alias of a voice activity model. With it, only
the speech that model finds is transcribed, and segment times still count from the start of
the upload.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel

from berth import errors
from berth.http.auth import InferCaller
from berth.http.runtime import ServicesDep
from berth.media.subtitles import srt, vtt
from berth.tasks.transcribe import Transcript

router = APIRouter(tags=["openai"])
ResponseFormat = Literal["json", "text", "srt", "vtt", "verbose_json"]


class Transcription(BaseModel):
    """The ``json`` response."""

    text: str


class TranscriptionSegment(BaseModel):
    """One segment of a ``verbose_json`` response; times in seconds."""

    id: int
    seek: int
    start: float
    end: float
    text: str
    tokens: list[int]
    temperature: float


class VerboseTranscription(BaseModel):
    """The ``verbose_json`` response."""

    task: Literal["transcribe", "translate"] = "transcribe"
    language: str | None
    duration: float
    text: str
    segments: list[TranscriptionSegment]


def verbose(transcript: Transcript, temperature: float) -> VerboseTranscription:
    segments = [
        TranscriptionSegment(
            id=number,
            seek=round(segment.start * 100),
            start=segment.start,
            end=segment.end,
            text=segment.text,
            tokens=[],
            temperature=temperature,
        )
        for number, segment in enumerate(transcript.segments)
    ]
    return VerboseTranscription(
        language=transcript.language,
        duration=transcript.duration,
        text=transcript.text,
        segments=segments,
    )


def render(transcript: Transcript, fmt: ResponseFormat, temperature: float) -> Response:
    """The transcript in the response format asked for."""
    if fmt == "text":
        return PlainTextResponse(transcript.text + "\n")
    if fmt == "srt":
        return PlainTextResponse(srt(transcript.segments))
    if fmt == "vtt":
        return PlainTextResponse(vtt(transcript.segments), media_type="text/vtt")
    body = (
        verbose(transcript, temperature)
        if fmt == "verbose_json"
        else Transcription(text=transcript.text)
    )
    return Response(body.model_dump_json(), media_type="application/json")


@router.post(
    "/v1/audio/transcriptions",
    response_model=Transcription | VerboseTranscription,
    responses={200: {"content": {"text/plain": {}, "text/vtt": {}}}},
)
async def create_transcription(
    request: Request,
    key: InferCaller,
    services: ServicesDep,
    file: Annotated[UploadFile, File(description="The audio: WAV, FLAC, OGG or MP3.")],
    model: Annotated[str, Form(description="A speech-to-text model's alias.")],
    language: Annotated[str | None, Form(description="ISO-639-1 code; found if left out.")] = None,
    prompt: Annotated[str | None, Form(description="Accepted; Berth does not use it.")] = None,
    response_format: Annotated[ResponseFormat, Form()] = "json",
    temperature: Annotated[float, Form(ge=0, le=1)] = 0.0,
    stream: Annotated[bool, Form()] = False,
    vad: Annotated[
        str | None, Form(description="Berth: a VAD model's alias; transcribe only its speech.")
    ] = None,
) -> Response:
    """Transcribe an audio file, as OpenAI's transcriptions endpoint."""
    request.state.model = model
    if stream:
        raise errors.InvalidRequest(
            "Streamed transcriptions are not supported. Leave stream out or set it to false."
        )
    transcript = await services.audio.transcribe(
        key,
        model,
        await file.read(),
        language=language or None,
        prompt=prompt or None,
        vad=vad or None,
        name=f"The file '{file.filename or 'upload'}'",
    )
    return render(transcript, response_format, temperature)
