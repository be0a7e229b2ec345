"""The ``embed`` job kind through a dispatcher, a memory store and a pool of echo models."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from berth import errors
from berth.jobs.config import DispatcherConfig
from berth.jobs.dispatcher import Dispatcher
from berth.jobs.job import Job, JobStatus
from berth.jobs.memory import MemoryJobStore
from berth.kinds import embed
from berth.plugins import PluginRegistry
from berth.pool.pool import ModelPool
from berth.runners.echo import vector_of
from tests.jobharness import JobHarness
from tests.pools import job_calls, make_pool, spec

pytestmark = pytest.mark.integration


class Harness(JobHarness):
    """A store, a dispatcher with the embed kind, and a pool."""

    kind, model = "embed", "vec"

    def artifact(self, job: Job) -> np.ndarray[Any, Any]:
        return np.load(self.path(job, "embeddings.npy"))


def embed_config(home: Path) -> DispatcherConfig:
    return DispatcherConfig(
        outputs_dir=home / "outputs", home=home, poll_seconds=0.05, retry_base_seconds=0.05
    )


@contextlib.asynccontextmanager
async def harness_over(pool: ModelPool, home: Path) -> AsyncIterator[Harness]:
    registry = PluginRegistry()
    embed.register(registry)
    config = embed_config(home)
    async with (
        MemoryJobStore() as store,
        Dispatcher(store, registry.kinds, config, models=job_calls(pool)),
    ):
        yield Harness(store, config)


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    models = [
        spec("vec", runner_options={"dimensions": 6}),
        spec("voice", "espeak-ng", task="speak"),
    ]
    async with make_pool(models) as pool, harness_over(pool, tmp_path) as opened:
        yield opened


async def test_texts_become_one_row_each_in_the_artifact(harness: Harness) -> None:
    texts = [f"text number {i}" for i in range(600)]
    job = await harness.run({"texts": texts})
    assert job.status is JobStatus.SUCCEEDED, job.error
    assert job.result == {
        "count": 600,
        "dimensions": 6,
        "model": "vec",
        "artifact": "embeddings.npy",
    }
    matrix = harness.artifact(job)
    assert matrix.dtype == np.float32 and matrix.shape == (600, 6)
    assert np.array_equal(matrix[417], vector_of("text number 417", 6))
    assert [a.name for a in job.artifacts] == ["embeddings.npy"]
    assert job.progress == 1.0


async def test_a_jsonl_file_relative_to_home(harness: Harness, tmp_path: Path) -> None:
    lines = [json.dumps({"text": f"line {i}", "id": i}) for i in range(5)]
    (tmp_path / "in.jsonl").write_text("\n".join(lines[:3]) + "\n\n" + "\n".join(lines[3:]))
    job = await harness.run({"jsonl": "in.jsonl"})
    assert job.status is JobStatus.SUCCEEDED, job.error
    assert job.result is not None and job.result["count"] == 5
    assert np.array_equal(harness.artifact(job)[4], vector_of("line 4", 6))


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.jsonl", None, "does not exist on this worker"),
        ("folder", "DIR", "is not a file on this worker"),
        ("bad.jsonl", '{"text": "ok"}\nnot json\n', "line 2 is not JSON"),
        ("wrong.jsonl", '{"text": "ok"}\n{"body": "x"}\n', 'line 2 has no "text" string'),
        ("empty.jsonl", "\n\n", "There are no texts to embed"),
    ],
)
async def test_a_bad_jsonl_input_fails_for_good(
    harness: Harness, tmp_path: Path, name: str, content: str | None, message: str
) -> None:
    if content == "DIR":
        (tmp_path / name).mkdir()
    elif content is not None:
        (tmp_path / name).write_text(content)
    job = await harness.run({"jsonl": str(tmp_path / name)})
    assert job.status is JobStatus.FAILED
    assert job.error is not None and job.error.type == "InvalidJobInput"
    assert message in job.error.message
    assert job.attempts == 1


async def test_a_model_that_does_not_embed_fails_the_job_before_it_runs(
    harness: Harness,
) -> None:
    job = await harness.run({"texts": ["a", "b"]}, model="voice")
    assert job.status is JobStatus.FAILED
    assert job.attempts == 1  # refused for good: nothing is retried
    assert job.error is not None
    assert "Model 'voice' is a speak model and cannot make embeddings" in job.error.message


def test_the_input_is_texts_or_jsonl() -> None:
    registry = PluginRegistry()
    embed.register(registry)
    kind = registry.kind("embed")
    assert kind.parse({"texts": ["a"]}).texts == ["a"]
    for bad in ({}, {"texts": ["a"], "jsonl": "x"}, {"texts": []}, {"texts": "a"}):
        with pytest.raises(errors.InvalidJobInput, match="Invalid input for job kind 'embed'"):
            kind.parse(bad)
