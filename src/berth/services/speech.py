"""Text-to-speech for callers: checks the request, runs it on a speak model, encodes the audio.

Shared by ``POST /v1/audio/speech`` and the ``speak`` job kind.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from berth import errors
from berth.keys.key import ApiKey
from berth.media.encode import audio_format, encode_audio
from berth.services.inference import InferenceService
from berth.tasks.speak import MAX_SPEED, MIN_SPEED, SPEAK, Speech, SpeechRequest

MAX_INPUT_CHARS = 4096
"""The longest text one request may speak, as OpenAI's speech API allows."""


@dataclass(frozen=True)
class SpokenAudio:
    """Encoded speech: the file's bytes, its media type, and how long it plays."""

    content: bytes
    media_type: str
    extension: str
    duration: float


def speech_request(text: str, voice: str | None, speed: float) -> SpeechRequest:
    """A runner input, checked: raises InvalidRequest for empty or over-long text or a speed
    out of range."""
    if not text.strip():
        raise errors.InvalidRequest("The input text is empty. Give the text to speak.")
    if len(text) > MAX_INPUT_CHARS:
        raise errors.InvalidRequest(
            f"The input text is {len(text)} characters long; the limit is {MAX_INPUT_CHARS}. "
            "Split it into shorter pieces."
        )
    if not MIN_SPEED <= speed <= MAX_SPEED:
        raise errors.InvalidRequest(
            f"speed is {speed}; it must be between {MIN_SPEED} and {MAX_SPEED}."
        )
    return SpeechRequest(text, voice or None, speed)


async def encode(speech: Speech, response_format: str) -> SpokenAudio:
    """``speech`` encoded as ``response_format`` (off the event loop)."""
    fmt = audio_format(response_format)
    content = await asyncio.to_thread(encode_audio, speech.samples, speech.sample_rate, fmt.name)
    return SpokenAudio(content, fmt.media_type, fmt.extension, speech.duration)


class SpeechService:
    """``POST /v1/audio/speech``: text in, encoded audio out."""

    def __init__(self, inference: InferenceService) -> None:
        self.inference = inference

    async def speak(
        self,
        caller: ApiKey | None,
        alias: str,
        text: str,
        voice: str | None,
        speed: float,
        response_format: str,
    ) -> SpokenAudio:
        """Speak ``text`` with the model ``alias`` and encode it as ``response_format``."""
        request = speech_request(text, voice, speed)
        audio_format(response_format)
        [speech] = await self.inference.run(caller, alias, SPEAK, [request])
        return await encode(speech, response_format)
