"""The ``speak`` job kind: text-to-speech into one audio artifact per text.

Input: ``{"texts": [...], "voice": "alloy", "format": "wav", "speed": 1.0}``; the job's
``model`` names the speak model (default ``espeak-ng``). Every text is checked before any is
spoken, so a bad one fails the job at once, for good.

Output: ``speech-0001.wav``, ``speech-0002.wav``, ... in the job's folder (text *i* in file
*i*), progress after each text, and the result ``{"count", "model", "format", "voice",
"speed", "duration", "items": [{"artifact", "duration"}]}`` with durations in seconds.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from berth import errors
from berth.hookspecs import Registry
from berth.jobs.context import JobContext
from berth.jobs.kind import JobKind
from berth.media.encode import audio_format
from berth.services.speech import SpokenAudio, encode, speech_request
from berth.tasks.speak import MAX_SPEED, MIN_SPEED, SPEAK, SpeechRequest

DEFAULT_MODEL = "espeak-ng"
MAX_TEXTS = 10_000


class SpeakParams(BaseModel):
    """Input of the ``speak`` kind."""

    model_config = ConfigDict(extra="forbid")

    texts: list[str] = Field(min_length=1, max_length=MAX_TEXTS, description="Texts to speak.")
    voice: str | None = Field(
        default=None, description="A voice of the model (default: the model's own default)."
    )
    format: str = Field(default="wav", description="Audio format: wav, flac, mp3, opus or pcm.")
    speed: float = Field(default=1.0, ge=MIN_SPEED, le=MAX_SPEED, description="1.0 is normal.")


def artifact_name(index: int, extension: str) -> str:
    """The file text ``index`` (from 0) is spoken into."""
    return f"speech-{index + 1:04d}.{extension}"


def checked_requests(params: SpeakParams) -> list[SpeechRequest]:
    """One runner input per text; raises InvalidJobInput naming the first bad text or the
    format."""
    requests = []
    try:
        audio_format(params.format)
        for number, text in enumerate(params.texts, start=1):
            try:
                requests.append(speech_request(text, params.voice, params.speed))
            except errors.InvalidRequest as exc:
                raise errors.InvalidJobInput(f"Text {number}: {exc.message}") from None
    except errors.InvalidRequest as exc:
        raise errors.InvalidJobInput(exc.message) from None
    return requests


async def speak_one(ctx: JobContext, alias: str, request: SpeechRequest, fmt: str) -> SpokenAudio:
    """One text spoken and encoded; a request the model refuses (a voice it lacks) fails the
    job for good."""
    try:
        [speech] = await ctx.models.run(alias, SPEAK, [request])
    except errors.InvalidRequest as exc:
        raise errors.InvalidJobInput(exc.message) from exc
    return await encode(speech, fmt)


async def speak(ctx: JobContext, params: SpeakParams) -> dict[str, Any]:
    """Speak every text through the model pool, one artifact each."""
    alias = ctx.job.model or DEFAULT_MODEL
    ctx.models.check(alias, SPEAK)
    requests = checked_requests(params)
    fmt = audio_format(params.format)
    total, items, durations = len(requests), [], []
    for index, request in enumerate(requests):
        ctx.check_cancelled()
        audio = await speak_one(ctx, alias, request, fmt.name)
        name = artifact_name(index, fmt.extension)
        (ctx.output_dir / name).write_bytes(audio.content)
        await ctx.add_artifact(name, fmt.media_type)
        durations.append(audio.duration)
        items.append({"artifact": name, "duration": round(audio.duration, 3)})
        await ctx.progress((index + 1) / total, f"spoke {index + 1} of {total} texts")
    return {
        "count": total,
        "model": alias,
        "format": fmt.name,
        "voice": params.voice,
        "speed": params.speed,
        "duration": round(sum(durations), 3),
        "items": items,
    }


def register(registry: Registry) -> None:
    """Register the kind."""
    registry.add_kind(
        JobKind(
            "speak",
            speak,
            "Speaks texts with the job's text-to-speech model (default "
            f"{DEFAULT_MODEL}) into one audio file each (wav, flac, mp3, opus or pcm), with "
            "their durations.",
            input_model=SpeakParams,
            task=SPEAK,
            default_model=DEFAULT_MODEL,
        )
    )
