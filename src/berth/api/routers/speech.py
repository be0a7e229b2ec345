"""Text-to-speech: ``POST /v1/audio/speech`` (OpenAI-compatible), answering audio bytes."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from berth.http.auth import InferCaller
from berth.http.runtime import ServicesDep
from berth.media.encode import KNOWN_FORMATS
from berth.services.speech import MAX_INPUT_CHARS
from berth.tasks.speak import MAX_SPEED, MIN_SPEED

router = APIRouter(tags=["openai"])


class SpeechBody(BaseModel):
    """The body of ``POST /v1/audio/speech``, as OpenAI's API defines it."""

    model: str = Field(description="A text-to-speech model, such as 'espeak-ng'.")
    input: str = Field(
        max_length=MAX_INPUT_CHARS, description=f"The text to speak (1..{MAX_INPUT_CHARS} chars)."
    )
    voice: str = Field(
        default="alloy",
        description="A voice of the model, or one of OpenAI's voice names (alloy, echo, ...).",
    )
    response_format: str = Field(
        default="mp3", description=f"The audio format: one of {', '.join(KNOWN_FORMATS)}."
    )
    speed: float = Field(default=1.0, ge=MIN_SPEED, le=MAX_SPEED, description="1.0 is normal.")
    instructions: str | None = Field(
        default=None, description="Accepted for compatibility; these models ignore it."
    )


AUDIO_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {
        "description": "The spoken audio, in the format asked for.",
        "content": {
            media: {"schema": {"type": "string", "format": "binary"}}
            for media in ("audio/mpeg", "audio/ogg", "audio/flac", "audio/wav", "audio/pcm")
        },
    }
}


@router.post("/v1/audio/speech", response_class=Response, responses=AUDIO_RESPONSES)
async def create_speech(
    body: SpeechBody, request: Request, key: InferCaller, services: ServicesDep
) -> Response:
    """Speak ``input`` with a text-to-speech model; the body is the audio file."""
    request.state.model = body.model
    audio = await services.speech.speak(
        key, body.model, body.input, body.voice, body.speed, body.response_format
    )
    headers = {"Content-Disposition": f'inline; filename="speech.{audio.extension}"'}
    return Response(audio.content, media_type=audio.media_type, headers=headers)
