"""The ``speak`` job kind through a dispatcher, a memory store and a pool with espeak-ng."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import soundfile

from berth import errors
from berth.jobs.config import DispatcherConfig
from berth.jobs.dispatcher import Dispatcher
from berth.jobs.job import EventType, Job, JobStatus
from berth.jobs.memory import MemoryJobStore
from berth.kinds import speak
from berth.plugins import PluginRegistry
from tests.jobharness import JobHarness
from tests.pools import job_calls, make_pool, spec

pytestmark = pytest.mark.integration


class Harness(JobHarness):
    """A store, a dispatcher with the speak kind, and a pool with an espeak-ng model."""

    kind, model = "speak", "espeak-ng"

    def artifact(self, job: Job, name: str) -> bytes:
        return self.path(job, name).read_bytes()


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    registry = PluginRegistry()
    speak.register(registry)
    config = DispatcherConfig(
        outputs_dir=tmp_path / "outputs", home=tmp_path, poll_seconds=0.05, retry_base_seconds=0.05
    )
    models = [spec("espeak-ng", runner="espeak-ng"), spec("words")]
    async with (
        make_pool(models) as pool,
        MemoryJobStore() as store,
        Dispatcher(store, registry.kinds, config, models=job_calls(pool)),
    ):
        yield Harness(store, config)


async def test_each_text_becomes_an_audio_artifact_with_its_duration(harness: Harness) -> None:
    texts = ["Hello.", "This sentence is a good deal longer than the first one.", "Bye."]
    job = await harness.run({"texts": texts, "voice": "alloy", "format": "flac"})
    assert job.status is JobStatus.SUCCEEDED, job.error
    result = job.result
    assert isinstance(result, dict)
    assert result["count"] == 3 and result["model"] == "espeak-ng" and result["format"] == "flac"
    names = [f"speech-000{i}.flac" for i in (1, 2, 3)]
    assert [a.name for a in job.artifacts] == names
    assert all(a.media_type == "audio/flac" for a in job.artifacts)
    durations = []
    for name, item in zip(names, result["items"], strict=True):
        samples, rate = soundfile.read(io.BytesIO(harness.artifact(job, name)))
        assert item["artifact"] == name
        assert item["duration"] == pytest.approx(len(samples) / rate, abs=0.01)
        durations.append(item["duration"])
    assert durations[1] > 2 * max(durations[0], durations[2])
    assert result["duration"] == pytest.approx(sum(durations), abs=0.01)
    assert job.progress == 1.0


async def test_progress_is_reported_per_text(harness: Harness) -> None:
    job = await harness.run({"texts": ["one", "two", "three", "four"], "format": "wav"})
    assert job.status is JobStatus.SUCCEEDED, job.error
    events = await harness.store.events(job.id)
    fractions = [e.data.get("fraction") for e in events if e.type is EventType.PROGRESS]
    assert fractions == [0.25, 0.5, 0.75, 1.0]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"texts": ["fine", "  "]}, "Text 2: The input text is empty"),
        ({"texts": ["fine"], "format": "aac"}, "'aac' is not supported"),
        ({"texts": ["fine"], "voice": "no-such-voice"}, "not an espeak-ng voice"),
        ({"texts": ["x" * 5000]}, "Text 1: The input text is 5000 characters"),
    ],
)
async def test_bad_input_fails_for_good(harness: Harness, data: Any, message: str) -> None:
    job = await harness.run(data)
    assert job.status is JobStatus.FAILED
    assert job.error is not None and job.error.type == "InvalidJobInput"
    assert message in job.error.message
    assert job.attempts == 1
    assert not job.artifacts


async def test_a_model_that_does_not_speak_fails_the_job(harness: Harness) -> None:
    job = await harness.run({"texts": ["hello"]}, model="words")
    assert job.status is JobStatus.FAILED
    assert job.error is not None and "returned SpeechRequest, not speech" in job.error.message


def test_the_input_is_checked_by_its_model() -> None:
    registry = PluginRegistry()
    speak.register(registry)
    kind = registry.kind("speak")
    parsed = kind.parse({"texts": ["a"], "speed": 2})
    assert parsed.texts == ["a"] and parsed.speed == 2 and parsed.format == "wav"
    for bad in ({}, {"texts": []}, {"texts": ["a"], "speed": 9}, {"texts": ["a"], "x": 1}):
        with pytest.raises(errors.InvalidJobInput, match="Invalid input for job kind 'speak'"):
            kind.parse(bad)
