"""The ``generate`` job kind through a dispatcher, a memory store and a pool holding the tiny
causal LM."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from berth import errors
from berth.jobs.config import DispatcherConfig
from berth.jobs.dispatcher import Dispatcher
from berth.jobs.job import Job, JobStatus
from berth.jobs.memory import MemoryJobStore
from berth.kinds import generate
from berth.models.spec import ModelSpec
from berth.plugins import PluginRegistry
from berth.pool.pool import ModelPool
from berth.runners.causal_lm import CausalLMRunner
from berth.settings import Settings
from berth.tasks.generate import ChatMessage, GenerationRequest
from tests.jobharness import JobHarness
from tests.pools import catalog, job_calls, runners
from tests.tiny.causal_lm import CONTEXT, session_causal_lm

pytestmark = pytest.mark.integration
ALIAS = "tiny-lm"


class Harness(JobHarness):
    kind, model = "generate", ALIAS

    def lines(self, job: Job) -> list[dict[str, Any]]:
        text = self.path(job, "generations.jsonl").read_text()
        return [json.loads(line) for line in text.splitlines()]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return session_causal_lm(tmp_path_factory)


@pytest.fixture
async def harness(model_dir: Path, tmp_path: Path) -> AsyncIterator[Harness]:
    spec = ModelSpec(
        alias=ALIAS,
        task="complete",
        runner="transformers",
        source=f"local:{model_dir}",
        options={"transport": "thread", "max_batch_size": 4},
    )
    registry = PluginRegistry()
    generate.register(registry)
    config = DispatcherConfig(
        outputs_dir=tmp_path / "outputs", home=tmp_path, poll_seconds=0.05, retry_base_seconds=0.05
    )
    pool = ModelPool(Settings(home=tmp_path), catalog([spec]), lambda _: model_dir, runners())
    async with (
        pool,
        MemoryJobStore() as store,
        Dispatcher(store, registry.kinds, config, models=job_calls(pool)),
    ):
        yield Harness(store, config)


@pytest.fixture(scope="module")
def direct(model_dir: Path) -> Any:
    runner = CausalLMRunner()
    runner.load(
        ModelSpec(alias=ALIAS, task="complete", runner="transformers", source=f"local:{model_dir}"),
        model_dir,
        "cpu",
    )
    yield runner
    runner.close()


async def test_prompts_become_one_line_each_in_order(harness: Harness, direct: Any) -> None:
    prompts = [f"Hello world {i}" for i in range(9)]
    job = await harness.run({"prompts": prompts, "max_tokens": 6, "temperature": 0})
    assert job.status is JobStatus.SUCCEEDED, job.error
    expected = direct.run(
        [GenerationRequest(prompt=p, max_tokens=6, temperature=0) for p in prompts]
    )
    lines = harness.lines(job)
    assert [line["index"] for line in lines] == list(range(9))
    assert [line["text"] for line in lines] == [done.text for done in expected]
    assert all(line["completion_tokens"] == 6 for line in lines)
    assert job.result == {
        "count": 9,
        "failed": 0,
        "prompt_tokens": sum(done.prompt_tokens for done in expected),
        "completion_tokens": 54,
        "model": ALIAS,
        "artifact": "generations.jsonl",
    }
    assert [a.name for a in job.artifacts] == ["generations.jsonl"]
    assert job.progress == 1.0


async def test_conversations_and_a_jsonl_file_with_a_prompt_too_long(
    harness: Harness, direct: Any, tmp_path: Path
) -> None:
    chats = [[{"role": "user", "content": "Hi"}], [{"role": "user", "content": "Bye"}]]
    job = await harness.run({"messages_list": chats, "max_tokens": 4, "seed": 7})
    assert job.status is JobStatus.SUCCEEDED, job.error
    again = direct.run(
        [
            GenerationRequest(messages=(ChatMessage("user", "Bye"),), max_tokens=4, seed=8),
        ]
    )
    assert harness.lines(job)[1]["text"] == again[0].text
    rows = [{"prompt": "Hello"}, {"prompt": "Hello world " * CONTEXT}, {"messages": chats[0]}]
    (tmp_path / "in.jsonl").write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    job = await harness.run({"jsonl": "in.jsonl", "max_tokens": 3})
    assert job.status is JobStatus.SUCCEEDED, job.error
    lines = harness.lines(job)
    assert "error" not in lines[0] and "error" not in lines[2]
    assert "Shorten the prompt" in lines[1]["error"]
    assert job.result is not None and job.result["failed"] == 1 and job.result["count"] == 3


async def test_a_job_without_a_model_fails_saying_so(harness: Harness) -> None:
    job = await harness.run({"prompts": ["Hello"]}, model=None)
    assert job.status is JobStatus.FAILED
    assert job.error is not None and job.error.type == "InvalidJobInput"
    assert "needs a model" in job.error.message


async def test_a_bad_jsonl_line_fails_the_job(harness: Harness, tmp_path: Path) -> None:
    (tmp_path / "bad.jsonl").write_text('{"prompt": "ok"}\n{"text": "no"}\n')
    job = await harness.run({"jsonl": "bad.jsonl"})
    assert job.status is JobStatus.FAILED and job.error is not None
    assert 'line 2 has no "prompt" string' in job.error.message


def test_the_input_is_one_source_with_sampling_settings() -> None:
    registry = PluginRegistry()
    generate.register(registry)
    kind = registry.kind("generate")
    assert kind.parse({"prompts": ["a"], "temperature": 0}).temperature == 0
    bad_inputs: list[Any] = [
        {},
        {"prompts": ["a"], "jsonl": "x"},
        {"prompts": []},
        {"messages_list": [[{"role": "robot", "content": "x"}]]},
        {"prompts": ["a"], "max_tokens": 0},
    ]
    for bad in bad_inputs:
        with pytest.raises(errors.InvalidJobInput, match="Invalid input for job kind 'generate'"):
            kind.parse(bad)
