"""The job kind ``transcribe``: speech-to-text for audio files.

Input: ``{"files": [PATH, ...]}`` (relative to BERTH_HOME unless absolute, on the worker that
runs the job), optional ``formats`` (default ``["json", "srt"]``), ``language`` and ``vad``
(a VAD model's alias: transcribe only the speech it finds). The job's ``model`` names the
speech-to-text model (default ``whisper-small``).

Output: per file, ``NNN-<name>.json`` (text, language, duration, segments) and one file per
other format, and the result ``{"model", "files": [{"file", "duration", "language",
"segments", "artifacts"}]}``. Progress is reported after each file.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import asdict
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from berth import errors
from berth.hookspecs import Registry
from berth.jobs.context import JobContext
from berth.jobs.kind import JobKind
from berth.jobs.paths import DataRoots, ServerPath
from berth.media.audio import MAX_SECONDS, Audio, AudioLimits, read_audio_file
from berth.media.subtitles import srt, vtt
from berth.services.audio import transcribe
from berth.tasks.transcribe import TRANSCRIBE, Transcript, TranscriptionRequest
from berth.tasks.vad import VAD

DEFAULT_MODEL = "whisper-small"
FILE_LIMITS = AudioLimits(max_bytes=2 * 1024**3, max_seconds=MAX_SECONDS)
"""What a job reads: local files may be bigger than uploads, but no longer."""
Format = Literal["json", "srt", "vtt", "txt"]
MEDIA_TYPES = {
    "json": "application/json",
    "srt": "application/x-subrip",
    "vtt": "text/vtt",
    "txt": "text/plain",
}


class TranscribeParams(BaseModel):
    """Input of the ``transcribe`` kind."""

    model_config = ConfigDict(extra="forbid")

    files: list[ServerPath] = Field(
        min_length=1,
        description="Audio files (WAV, FLAC, OGG, MP3), relative to BERTH_HOME unless absolute; "
        "under BERTH_HOME or BERTH_DATA_DIRS.",
    )
    formats: list[Format] = Field(
        default=["json", "srt"], min_length=1, description="Transcript files to write per input."
    )
    language: str | None = Field(default=None, description="Language code; found if left out.")
    vad: str | None = Field(
        default=None, description="A VAD model's alias: transcribe only the speech it finds."
    )


def audio_path(roots: DataRoots, name: str) -> Path:
    """The audio file ``name`` points at; raises InvalidJobInput unless it is an allowed file."""
    return roots.file(name, "audio file", "an audio file")


async def read_audio(path: Path) -> Audio:
    """The file decoded in a worker thread; a file that cannot be used fails the job for
    good (InvalidJobInput), with the reason."""
    try:
        return await asyncio.to_thread(read_audio_file, path, FILE_LIMITS)
    except errors.InvalidRequest as exc:
        raise errors.InvalidJobInput(exc.message) from exc


def artifact_stem(number: int, path: Path) -> str:
    """``NNN-name``: numbered so two inputs with one name do not collide."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", path.stem).strip("._") or "audio"
    return f"{number:03d}-{name[:60]}"


def render(transcript: Transcript, fmt: Format) -> str:
    if fmt == "srt":
        return srt(transcript.segments)
    if fmt == "vtt":
        return vtt(transcript.segments)
    if fmt == "txt":
        return transcript.text + "\n"
    return json.dumps(asdict(transcript), ensure_ascii=False, indent=2)


async def write(
    ctx: JobContext, stem: str, transcript: Transcript, formats: list[Format]
) -> list[str]:
    """Write ``transcript`` in each format as an artifact; the artifacts' names."""
    names = []
    for fmt in dict.fromkeys(formats):
        name, text = f"{stem}.{fmt}", render(transcript, fmt)
        await asyncio.to_thread((ctx.output_dir / name).write_text, text, "utf-8")
        await ctx.add_artifact(name, MEDIA_TYPES[fmt])
        names.append(name)
    return names


async def transcribe_files(ctx: JobContext, params: TranscribeParams) -> dict[str, Any]:
    """Transcribe each file in turn through the model pool and write its transcripts."""
    alias = ctx.job.model or DEFAULT_MODEL
    ctx.models.check(alias, TRANSCRIBE)
    if params.vad is not None:
        ctx.models.check(params.vad, VAD)
    paths = [audio_path(ctx.roots, name) for name in params.files]
    done: list[dict[str, Any]] = []
    for number, path in enumerate(paths, start=1):
        ctx.check_cancelled()
        audio = await read_audio(path)
        request = TranscriptionRequest(audio.samples, language=params.language)
        transcript = await transcribe(ctx.models, alias, request, params.vad)
        names = await write(ctx, artifact_stem(number, path), transcript, params.formats)
        done.append(
            {
                "file": str(path),
                "duration": transcript.duration,
                "language": transcript.language,
                "segments": len(transcript.segments),
                "artifacts": names,
            }
        )
        await ctx.progress(number / len(paths), f"transcribed {number} of {len(paths)} files")
    return {"model": alias, "files": done}


def register(registry: Registry) -> None:
    """Register the kind."""
    registry.add_kind(
        JobKind(
            "transcribe",
            transcribe_files,
            "Transcribes audio files with the job's speech-to-text model (default "
            f"{DEFAULT_MODEL}) into JSON and subtitle (srt, vtt) or text artifacts per file.",
            input_model=TranscribeParams,
            task=TRANSCRIBE,
            default_model=DEFAULT_MODEL,
        )
    )
