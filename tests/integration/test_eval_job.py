"""Eval runs as ``eval`` jobs, through the eval service of a real Berth (SQLite, a running
dispatcher, the tiny causal LM in its catalog): the rules at create, a completions run whose
outcomes are known from the model called directly, a jsonl run, and cancel."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from berth import errors
from berth.app import Berth
from berth.evals.records import EvalRun, RunStatus
from berth.services.evals import EvalService
from berth.settings import Settings
from berth.tasks.generate import ChatMessage, GenerationRequest
from tests.tiny.causal_lm import session_causal_lm

pytestmark = pytest.mark.integration
CONFIG = {
    "type": "custom",
    "item_schema": {
        "type": "object",
        "properties": {"q": {"type": "string"}, "a": {"type": "string"}},
        "required": ["q", "a"],
    },
    "include_sample_schema": True,
}
EXACT = {
    "type": "string_check",
    "name": "exact",
    "input": "{{sample.output_text}}",
    "reference": "{{item.a}}",
    "operation": "eq",
}
QUESTIONS = ["Hello world", "The quick brown fox", "Numbers like 12", "Café, naïve", "Hi"]


@pytest.fixture
async def berth(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Berth]:
    model_dir = session_causal_lm(tmp_path_factory)
    (tmp_path / "catalog.toml").write_text(
        f'[models.tiny-lm]\ntask = "chat"\nrunner = "transformers"\nsource = "local:{model_dir}"\n'
        '[models.tiny-lm.options]\ntransport = "thread"\nmax_batch_size = 8\n'
    )
    settings = Settings(home=tmp_path, poll_seconds=0.05, cancel_grace_seconds=0.5)
    async with Berth(settings) as opened, opened.dispatcher():
        yield opened


async def finished(evals: EvalService, run: EvalRun) -> EvalRun:
    async with asyncio.timeout(120):
        while not (current := await evals.get_run(None, run.eval_id, run.id)).status.terminal:
            await asyncio.sleep(0.05)
    return current


def completions(source: dict[str, Any], **sampling: Any) -> dict[str, Any]:
    return {
        "type": "completions",
        "model": "tiny-lm",
        "source": source,
        "input_messages": {
            "type": "template",
            "template": [{"role": "user", "content": "Q: {{item.q}}"}],
        },
        "sampling_params": {"temperature": 0, "max_completion_tokens": 5, **sampling},
    }


async def test_a_completions_run_grades_what_the_model_answers(berth: Berth) -> None:
    inference, evals = berth.services.inference, berth.services.evals
    answers = [
        (await inference.generate(None, "tiny-lm", GenerationRequest(
            messages=(ChatMessage("user", f"Q: {q}"),), max_tokens=5, temperature=0,
        ))).text
        for q in QUESTIONS
    ]  # fmt: skip
    rows = [{"item": {"q": q, "a": a if i % 2 == 0 else "wrong"}} for i, (q, a) in
            enumerate(zip(QUESTIONS, answers, strict=True))]  # fmt: skip
    upload = "".join(json.dumps(row) + "\n" for row in rows).encode()
    stored = await berth.services.files.upload(None, "qa.jsonl", "evals", io.BytesIO(upload))
    made = await evals.create(None, data_source_config=CONFIG, testing_criteria=[EXACT])
    run = await evals.create_run(
        None, made.id, data_source=completions({"type": "file_id", "id": stored.id})
    )
    assert run.status is RunStatus.QUEUED and run.job_id is not None and run.model == "tiny-lm"
    done = await finished(evals, run)
    assert done.status is RunStatus.COMPLETED, done.error
    assert done.result_counts.as_json() == {"total": 5, "passed": 3, "failed": 2, "errored": 0}
    assert [c.as_json() for c in done.per_testing_criteria_results] == [
        {"testing_criteria": "exact", "passed": 3, "failed": 2}
    ]
    items = await evals.list_items(
        None, made.id, run.id, status=None, after=None, limit=10, newest_first=False
    )
    by_index = sorted(items, key=lambda item: item.index)
    assert [item.sample["output_text"] for item in by_index] == answers
    assert [item.status for item in by_index] == ["pass", "fail", "pass", "fail", "pass"]
    assert by_index[0].sample["input"] == [{"role": "user", "content": "Q: Hello world"}]
    assert by_index[0].sample["usage"]["completion_tokens"] <= 5
    job = await berth.services.jobs.get(None, run.job_id)
    assert job.result is not None and job.result["sampled"] == 5


async def test_a_jsonl_run_grades_the_rows_own_samples(berth: Berth) -> None:
    evals = berth.services.evals
    made = await evals.create(None, data_source_config=CONFIG, testing_criteria=[EXACT])
    content = [
        {"item": {"q": "2+2", "a": "4"}, "sample": {"output_text": "4"}},
        {
            "item": {"q": "3+3", "a": "6"},
            "sample": {"output": [{"role": "assistant", "content": "7"}]},
        },
        {"item": {"q": "1+1", "a": "2"}},
    ]
    run = await evals.create_run(
        None,
        made.id,
        data_source={"type": "jsonl", "source": {"type": "file_content", "content": content}},
    )
    done = await finished(evals, run)
    assert done.result_counts.as_json() == {"total": 3, "passed": 1, "failed": 1, "errored": 1}


async def test_the_rules_at_create_name_the_field(berth: Berth) -> None:
    evals = berth.services.evals
    with pytest.raises(
        errors.InvalidRequest,
        match=r"testing_criteria\[0\].reference: '\{\{item.b\}\}' names no field",
    ):
        await evals.create(
            None, data_source_config=CONFIG, testing_criteria=[{**EXACT, "reference": "{{item.b}}"}]
        )
    with pytest.raises(errors.UnknownModel):
        await evals.create(
            None,
            data_source_config=CONFIG,
            testing_criteria=[
                {
                    "type": "label_model",
                    "name": "judge",
                    "model": "nope",
                    "labels": ["a"],
                    "passing_labels": ["a"],
                    "input": [{"role": "user", "content": "x"}],
                }
            ],
        )
    with pytest.raises(errors.InvalidRequest, match=r"data_source_config\.type: 'logs'"):
        await evals.create(None, data_source_config={"type": "logs"}, testing_criteria=[EXACT])
    made = await evals.create(None, data_source_config=CONFIG, testing_criteria=[EXACT])
    with pytest.raises(errors.UnknownFile):
        await evals.create_run(
            None, made.id, data_source=completions({"type": "file_id", "id": "file-nope"})
        )
    with pytest.raises(errors.UnknownModel):
        await evals.create_run(
            None,
            made.id,
            data_source={
                **completions(
                    {"type": "file_content", "content": [{"item": {"q": "a", "a": "b"}}]}
                ),
                "model": "gpt-9",
            },
        )
    with pytest.raises(
        errors.InvalidRequest, match=r"content\[0\].item: 'a' is a required property"
    ):
        await evals.create_run(
            None,
            made.id,
            data_source={
                "type": "jsonl",
                "source": {"type": "file_content", "content": [{"item": {"q": "x"}}]},
            },
        )
    source = completions({"type": "file_content", "content": [{"item": {"q": "a", "a": "b"}}]})
    source["input_messages"]["template"][0]["content"] = "{{item.z}}"
    with pytest.raises(
        errors.InvalidRequest,
        match=r"data_source.input_messages.template\[0\].content: '\{\{item.z\}\}'",
    ):
        await evals.create_run(None, made.id, data_source=source)
    assert (
        await evals.list_runs(None, made.id, status=None, after=None, limit=10, newest_first=True)
        == []
    )


async def test_a_cancelled_run_stops_and_says_canceled(berth: Berth) -> None:
    evals = berth.services.evals
    made = await evals.create(None, data_source_config=CONFIG, testing_criteria=[EXACT])
    content = [{"item": {"q": f"Hello world {i}", "a": "x"}} for i in range(4000)]
    run = await evals.create_run(
        None,
        made.id,
        data_source=completions(
            {"type": "file_content", "content": content}, max_completion_tokens=40
        ),
    )
    async with asyncio.timeout(60):
        while not await evals.store.all_items(run.id):
            await asyncio.sleep(0.02)
    canceled = await evals.cancel_run(None, made.id, run.id)
    assert canceled.status is RunStatus.CANCELED
    assert run.job_id is not None
    job = await berth.services.jobs.follow(None, run.job_id)
    assert job.status.value == "cancelled" and job.attempts == 1
    done = await evals.get_run(None, made.id, run.id)
    assert done.status is RunStatus.CANCELED and done.result_counts.total < 4000


async def test_an_eval_job_for_no_run_fails_once_saying_so(berth: Berth) -> None:
    submitted = await berth.services.jobs.submit(None, "eval", {"run_id": "evalrun_nope"})
    job = await berth.services.jobs.follow(None, submitted.job.id, poll_seconds=0.05)
    assert job.status.value == "failed" and job.attempts == 1
    assert job.error is not None and "There is no eval run 'evalrun_nope'" in job.error.message
