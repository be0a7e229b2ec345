"""The ``transcribe`` and ``vad`` job kinds through a dispatcher, a memory store and a pool
holding a tiny Whisper model and Silero VAD."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from berth.jobs.config import DispatcherConfig
from berth.jobs.dispatcher import Dispatcher
from berth.jobs.job import Job, JobStatus
from berth.jobs.memory import MemoryJobStore
from berth.kinds import transcribe, vad
from berth.media.audio import encode_wav
from berth.models.cache import ModelCache
from berth.models.catalog import Catalog
from berth.models.spec import ModelSpec
from berth.plugins import PluginRegistry, discover
from berth.pool.pool import ModelPool
from berth.settings import Settings
from tests.integration.test_vad import TOLERANCE, speech_with_pauses
from tests.jobharness import JobHarness
from tests.pools import job_calls
from tests.tiny.whisper import write_whisper

pytestmark = pytest.mark.integration


class Harness(JobHarness):
    def artifact(self, job: Job, name: str) -> str:
        return self.path(job, name).read_text()


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    settings = Settings(home=tmp_path)
    runners = discover().runners
    catalog, cache = Catalog.load(settings, runners), ModelCache(settings)
    whisper = write_whisper(tmp_path / "whisper")
    thread = {"transport": "thread"}
    specs = {
        "tiny-whisper": ModelSpec.model_validate(
            {
                "alias": "tiny-whisper",
                "task": "transcribe",
                "runner": "transformers-asr",
                "source": f"local:{whisper}",
                "options": thread,
            }
        ),
        "silero-vad": catalog.get("silero-vad").model_copy(
            update={"options": catalog.get("silero-vad").options.model_copy(update=thread)}
        ),
    }
    registry = PluginRegistry()
    transcribe.register(registry)
    vad.register(registry)
    config = DispatcherConfig(
        outputs_dir=tmp_path / "outputs", home=tmp_path, poll_seconds=0.05, retry_base_seconds=0.05
    )
    async with (
        ModelPool(settings, specs.__getitem__, cache.path_for, runners) as pool,
        MemoryJobStore() as store,
        Dispatcher(store, registry.kinds, config, models=job_calls(pool)),
    ):
        yield Harness(store, config)


def write_audio(home: Path) -> tuple[Path, list[Any]]:
    audio, truth = speech_with_pauses()
    (home / "talk.wav").write_bytes(encode_wav(audio))
    (home / "quiet.wav").write_bytes(encode_wav(np.zeros(32_000, np.float32)))
    return home / "talk.wav", truth


async def test_transcribe_writes_json_and_subtitles_per_file(
    harness: Harness, tmp_path: Path
) -> None:
    talk, _ = write_audio(tmp_path)
    job = await harness.run({"files": [str(talk), "quiet.wav"]}, "tiny-whisper", "transcribe")
    assert job.status is JobStatus.SUCCEEDED, job.error
    assert job.progress == 1.0
    assert job.result is not None and job.result["model"] == "tiny-whisper"
    first, second = job.result["files"]
    assert first["artifacts"] == ["001-talk.json", "001-talk.srt"]
    assert second["artifacts"] == ["002-quiet.json", "002-quiet.srt"]
    assert [a.name for a in job.artifacts] == [*first["artifacts"], *second["artifacts"]]
    transcript = json.loads(harness.artifact(job, "001-talk.json"))
    assert transcript["duration"] == pytest.approx(first["duration"])
    assert len(transcript["segments"]) == first["segments"] > 1
    assert harness.artifact(job, "001-talk.srt").startswith("1\n00:00:00,000 --> 00:00:02,000\n")


async def test_transcribe_with_vad_keeps_the_recordings_clock(
    harness: Harness, tmp_path: Path
) -> None:
    _, truth = write_audio(tmp_path)
    data = {"files": ["talk.wav", "quiet.wav"], "vad": "silero-vad", "formats": ["vtt", "json"]}
    job = await harness.run(data, "tiny-whisper", "transcribe")
    assert job.status is JobStatus.SUCCEEDED, job.error
    spoken = json.loads(harness.artifact(job, "001-talk.json"))
    assert spoken["segments"][0]["start"] == pytest.approx(truth[0].start, abs=TOLERANCE)
    assert harness.artifact(job, "001-talk.vtt").startswith("WEBVTT\n")
    quiet = json.loads(harness.artifact(job, "002-quiet.json"))
    assert quiet["segments"] == [] and quiet["text"] == ""


async def test_vad_writes_the_spans_of_every_file(harness: Harness, tmp_path: Path) -> None:
    _, truth = write_audio(tmp_path)
    data = {"files": ["talk.wav", "quiet.wav"], "min_silence_ms": 700}
    job = await harness.run(data, "silero-vad", "vad")
    assert job.status is JobStatus.SUCCEEDED, job.error
    assert job.result is not None and job.result["artifact"] == "spans.json"
    assert [f["spans"] for f in job.result["files"]] == [2, 0]
    found = json.loads(harness.artifact(job, "spans.json"))
    spans = found["files"][0]["spans"]
    for span, expected in zip(spans, truth, strict=True):
        assert span["start"] == pytest.approx(expected.start, abs=TOLERANCE)
        assert span["end"] == pytest.approx(expected.end, abs=TOLERANCE)
    assert job.progress == 1.0


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.wav", None, "does not exist on this worker"),
        ("broken.flac", b"fLaC" + bytes(100), "looks like FLAC but cannot be decoded"),
        ("notes.txt", b"hello", "not audio in a format Berth can read"),
        ("empty.wav", b"", "is empty (0 bytes)"),
    ],
)
async def test_a_file_that_cannot_be_used_fails_the_job_for_good(
    harness: Harness, tmp_path: Path, name: str, content: bytes | None, message: str
) -> None:
    if content is not None:
        (tmp_path / name).write_bytes(content)
    for kind, model in (("transcribe", "tiny-whisper"), ("vad", "silero-vad")):
        job = await harness.run({"files": [name]}, model, kind)
        assert job.status is JobStatus.FAILED
        assert job.error is not None and job.error.type == "InvalidJobInput"
        assert message in job.error.message
        assert job.attempts == 1
