"""The job kind ``vad``: speech segments of audio files.

Input: ``{"files": [PATH, ...]}`` (relative to BERTH_HOME unless absolute) and optional
``threshold``, ``min_speech_ms``, ``min_silence_ms``. The job's ``model`` names the VAD
model (default ``silero-vad``).

Output: ``spans.json``, ``{"model", "files": [{"file", "duration", "speech_seconds",
"spans": [{"start", "end"}, ...]}]}`` with times in seconds, and the result
``{"model", "artifact", "files": [{"file", "spans", "speech_seconds"}]}``.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from berth.hookspecs import Registry
from berth.jobs.context import JobContext
from berth.jobs.kind import JobKind
from berth.jobs.paths import ServerPath
from berth.kinds.transcribe import audio_path, read_audio
from berth.services.audio import DEFAULT_VAD, find_speech
from berth.tasks.vad import VAD, VadRequest

ARTIFACT = "spans.json"


class VadParams(BaseModel):
    """Input of the ``vad`` kind."""

    model_config = ConfigDict(extra="forbid")

    files: list[ServerPath] = Field(
        min_length=1,
        description="Audio files (WAV, FLAC, OGG, MP3), relative to BERTH_HOME unless absolute; "
        "under BERTH_HOME or BERTH_DATA_DIRS.",
    )
    threshold: float = Field(default=0.5, gt=0, lt=1, description="Speech probability.")
    min_speech_ms: int = Field(default=250, ge=0, description="Shorter speech is dropped.")
    min_silence_ms: int = Field(default=100, ge=0, description="The pause that ends speech.")


async def find_spans(ctx: JobContext, params: VadParams) -> dict[str, Any]:
    """Find the speech in each file in turn and write every file's spans to spans.json."""
    alias = ctx.job.model or DEFAULT_VAD
    ctx.models.check(alias, VAD)
    paths = [audio_path(ctx.roots, name) for name in params.files]
    found: list[dict[str, Any]] = []
    for number, path in enumerate(paths, start=1):
        ctx.check_cancelled()
        audio = await read_audio(path)
        request = VadRequest(
            audio.samples,
            threshold=params.threshold,
            min_speech_ms=params.min_speech_ms,
            min_silence_ms=params.min_silence_ms,
        )
        spans = await find_speech(ctx.models, alias, request)
        found.append(
            {
                "file": str(path),
                "duration": round(spans.duration, 3),
                "speech_seconds": round(spans.speech_seconds, 3),
                "spans": [{"start": s.start, "end": s.end} for s in spans.spans],
            }
        )
        await ctx.progress(number / len(paths), f"searched {number} of {len(paths)} files")
    text = json.dumps({"model": alias, "files": found}, indent=2)
    await asyncio.to_thread((ctx.output_dir / ARTIFACT).write_text, text, "utf-8")
    await ctx.add_artifact(ARTIFACT, "application/json")
    summary = [
        {"file": f["file"], "spans": len(f["spans"]), "speech_seconds": f["speech_seconds"]}
        for f in found
    ]
    return {"model": alias, "artifact": ARTIFACT, "files": summary}


def register(registry: Registry) -> None:
    """Register the kind."""
    registry.add_kind(
        JobKind(
            "vad",
            find_spans,
            f"Finds the speech in audio files with the job's VAD model (default {DEFAULT_VAD}); "
            f"writes the spans (seconds) of every file to {ARTIFACT}.",
            input_model=VadParams,
            task=VAD,
            default_model=DEFAULT_VAD,
        )
    )
