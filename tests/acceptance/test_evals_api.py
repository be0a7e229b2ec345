"""The Evals API, driven by the official ``openai`` client against ``berth serve``: files,
evals, runs on the tiny causal LM (completions) and on a JSONL file (string_check), their
counts and output items, pagination, cancel and delete, and keys that see only their own."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.acceptance.live import LiveServer, create_key, live_server
from tests.tiny.causal_lm import session_causal_lm

pytestmark = [pytest.mark.acceptance, pytest.mark.slow]
MODEL = "tiny-lm"
QUESTIONS = ["Hello world", "The quick brown fox", "Numbers like 12", "Café, naïve", "Hi there"]
ITEM_SCHEMA = {
    "type": "object",
    "properties": {"q": {"type": "string"}, "a": {"type": "string"}},
    "required": ["q", "a"],
}
EXACT: Any = {
    "type": "string_check",
    "name": "exact",
    "input": "{{sample.output_text}}",
    "reference": "{{item.a}}",
    "operation": "eq",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    model_dir = session_causal_lm(tmp_path_factory)
    home = tmp_path_factory.mktemp("serve") / "home"
    home.mkdir(parents=True)
    (home / "catalog.toml").write_text(
        f'[models.{MODEL}]\ntask = "chat"\nrunner = "transformers"\n'
        f'source = "local:{model_dir}"\n[models.{MODEL}.options]\nmax_batch_size = 8\n'
    )
    with live_server(home, BERTH_LOAD_WAIT_SECONDS="120") as live:
        yield live


@pytest.fixture(scope="module")
def client(server: LiveServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(
        base_url=f"{server.url}/v1", api_key="none", max_retries=0, timeout=120
    ) as opened:
        yield opened


def jsonl(rows: list[dict[str, Any]]) -> io.BytesIO:
    return io.BytesIO("".join(json.dumps(row) + "\n" for row in rows).encode())


def make_eval(client: openai.OpenAI, name: str = "golden") -> Any:
    return client.evals.create(
        name=name,
        data_source_config={
            "type": "custom",
            "item_schema": ITEM_SCHEMA,
            "include_sample_schema": True,
        },
        testing_criteria=[EXACT],
        metadata={"suite": "smoke"},
    )


def finished(client: openai.OpenAI, eval_id: str, run_id: str) -> Any:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        run = client.evals.runs.retrieve(run_id, eval_id=eval_id)
        if run.status in ("completed", "failed", "canceled"):
            return run
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} did not finish: {run.status}")


def test_a_completions_run_on_the_tiny_model_counts_and_lists_its_samples(
    client: openai.OpenAI, server: LiveServer
) -> None:
    answers = [
        client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": f"Q: {q}"}], max_tokens=5,
            temperature=0,
        ).choices[0].message.content
        for q in QUESTIONS
    ]  # fmt: skip
    rows = [{"item": {"q": q, "a": a if i % 2 == 0 else "no"}} for i, (q, a) in
            enumerate(zip(QUESTIONS, answers, strict=True))]  # fmt: skip
    uploaded = client.files.create(file=("qa.jsonl", jsonl(rows)), purpose="evals")
    made = make_eval(client)
    assert made.object == "eval" and made.name == "golden" and made.metadata == {"suite": "smoke"}
    assert made.data_source_config.type == "custom"
    assert made.data_source_config.schema_["properties"]["item"] == ITEM_SCHEMA
    run = client.evals.runs.create(
        made.id,
        name="tiny",
        data_source={
            "type": "completions",
            "model": MODEL,
            "source": {"type": "file_id", "id": uploaded.id},
            "input_messages": {
                "type": "template",
                "template": [{"role": "user", "content": "Q: {{item.q}}"}],
            },
            "sampling_params": {"temperature": 0, "max_completion_tokens": 5},
        },
    )
    assert run.object == "eval.run" and run.status in ("queued", "in_progress")
    assert run.report_url == f"{server.url}/evals/{made.id}/runs/{run.id}"
    done = finished(client, made.id, run.id)
    assert done.status == "completed" and done.model == MODEL
    [usage] = done.per_model_usage
    assert (usage.run_model_name, usage.invocation_count) == (MODEL, 5)
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens > 0
    counts = done.result_counts
    assert (counts.total, counts.passed, counts.failed, counts.errored) == (5, 3, 2, 0)
    [criterion] = done.per_testing_criteria_results
    assert (criterion.testing_criteria, criterion.passed, criterion.failed) == ("exact", 3, 2)
    first = client.evals.runs.output_items.list(run.id, eval_id=made.id, limit=2)
    assert len(first.data) == 2 and first.has_more
    every = list(client.evals.runs.output_items.list(run.id, eval_id=made.id, limit=2))
    assert sorted(i.datasource_item_id for i in every) == [0, 1, 2, 3, 4], "pages follow"
    by_index = {i.datasource_item_id: i for i in every}
    assert [by_index[i].sample.output[0].content for i in range(5)] == answers
    assert [by_index[i].status for i in range(5)] == ["pass", "fail", "pass", "fail", "pass"]
    assert by_index[0].sample.input[0].content == "Q: Hello world"
    assert by_index[0].sample.usage.completion_tokens <= 5
    assert by_index[1].results[0].passed is False and by_index[1].results[0].name == "exact"
    failing = client.evals.runs.output_items.list(run.id, eval_id=made.id, status="fail")
    assert sorted(i.datasource_item_id for i in failing.data) == [1, 3]
    one = client.evals.runs.output_items.retrieve(by_index[2].id, eval_id=made.id, run_id=run.id)
    assert one.datasource_item == rows[2]["item"] and one.object == "eval.run.output_item"
    report = httpx.get(done.report_url, timeout=30)
    assert report.status_code == 200 and "exact: 3 passed, 2 failed" in report.text
    assert report.text.count('class="sample-') == 5
    failures = httpx.get(done.report_url, params={"status": "fail"}, timeout=30).text
    assert failures.count('class="sample-fail"') == 2 and 'class="sample-pass"' not in failures
    listing = httpx.get(f"{server.url}/evals", timeout=30).text
    assert f"/evals/{made.id}/runs/{run.id}" in listing and "60.0% passed" in listing


def test_a_jsonl_run_grades_the_files_own_samples(client: openai.OpenAI) -> None:
    rows = [
        {"item": {"q": "2+2", "a": "4"}, "sample": {"output_text": "4"}},
        {"item": {"q": "3+3", "a": "6"}, "sample": {"output_text": "six"}},
        {"item": {"q": "1+1", "a": "2"}, "sample": {"output_text": "2"}},
    ]
    uploaded = client.files.create(file=("graded.jsonl", jsonl(rows)), purpose="evals")
    made = make_eval(client, "jsonl")
    run = client.evals.runs.create(
        made.id, data_source={"type": "jsonl", "source": {"type": "file_id", "id": uploaded.id}}
    )
    done = finished(client, made.id, run.id)
    counts = done.result_counts
    assert (counts.total, counts.passed, counts.failed, counts.errored) == (3, 2, 1, 0)
    inline = client.evals.runs.create(
        made.id,
        data_source={"type": "jsonl", "source": {"type": "file_content", "content": rows[:1]}},
    )
    assert finished(client, made.id, inline.id).result_counts.passed == 1
    runs = client.evals.runs.list(made.id)
    assert [r.id for r in runs.data] == [run.id, inline.id]
    assert [r.id for r in client.evals.runs.list(made.id, order="desc", limit=1).data] == [
        inline.id
    ]
    again = client.evals.runs.cancel(run.id, eval_id=made.id)
    assert again.status == "completed", "a finished run is left as it is"
    gone = client.evals.runs.delete(run.id, eval_id=made.id)
    assert gone.deleted and gone.run_id == run.id
    with pytest.raises(openai.NotFoundError):
        client.evals.runs.retrieve(run.id, eval_id=made.id)


def test_evals_list_page_update_and_delete(client: openai.OpenAI) -> None:
    made = [make_eval(client, f"page-{i}") for i in range(3)]
    ids = [m.id for m in made]
    listed = [e.id for e in client.evals.list(limit=100)]
    assert listed[-3:] == ids
    page = client.evals.list(after=ids[0], limit=1)
    assert [e.id for e in page.data] == [ids[1]] and page.has_more
    assert client.evals.list(order="desc", limit=1).data[0].id == ids[2]
    renamed = client.evals.update(ids[0], name="renamed", metadata={"v": "2"})
    assert client.evals.retrieve(ids[0]).name == renamed.name == "renamed"
    deleted = client.evals.delete(ids[0])
    assert deleted.deleted and deleted.eval_id == ids[0]
    with pytest.raises(openai.NotFoundError, match=ids[0]):
        client.evals.retrieve(ids[0])


@pytest.mark.parametrize(
    ("criteria", "message"),
    [([{**EXACT, "operation": "is"}], "testing_criteria[0].operation"),
     ([{**EXACT, "reference": "{{item.answer}}"}],
      "testing_criteria[0].reference: '{{item.answer}}' names no field of the item schema"),
     ([{**EXACT, "type": "python"}], "testing_criteria[0].type: 'python' is not a grader")],
)  # fmt: skip
def test_bad_evals_are_400_naming_the_field(
    client: openai.OpenAI, criteria: Any, message: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.evals.create(
            data_source_config={"type": "custom", "item_schema": ITEM_SCHEMA},
            testing_criteria=criteria,
        )
    assert message in caught.value.message


def test_bad_runs_are_refused_before_anything_is_queued(client: openai.OpenAI) -> None:
    made = make_eval(client, "refusals")
    template = [{"role": "user", "content": "{{item.q}}"}]
    source: Any = {"type": "completions", "model": "gpt-9",
                   "source": {"type": "file_content", "content": [{"item": {"q": "a", "a": "b"}}]},
                   "input_messages": {"type": "template", "template": template}}  # fmt: skip
    with pytest.raises(openai.NotFoundError, match="gpt-9"):
        client.evals.runs.create(made.id, data_source=source)
    with pytest.raises(openai.NotFoundError, match="file-nope"):
        client.evals.runs.create(
            made.id, data_source={"type": "jsonl", "source": {"type": "file_id", "id": "file-nope"}}
        )
    with pytest.raises(openai.BadRequestError, match=r"data_source\.type"):
        client.evals.runs.create(made.id, data_source={"type": "responses"})  # type: ignore[arg-type]
    assert client.evals.runs.list(made.id).data == []


def test_a_key_sees_only_its_own_evals(server: LiveServer) -> None:
    mine = openai.OpenAI(
        base_url=f"{server.url}/v1", api_key=create_key(server, "eve", "jobs"), max_retries=0
    )
    theirs = openai.OpenAI(
        base_url=f"{server.url}/v1", api_key=create_key(server, "mal", "jobs"), max_retries=0
    )
    made = make_eval(mine, "private")
    assert [e.id for e in mine.evals.list()] == [made.id]
    assert theirs.evals.list().data == []
    with pytest.raises(openai.NotFoundError):
        theirs.evals.retrieve(made.id)
    with pytest.raises(openai.NotFoundError):
        theirs.evals.runs.list(made.id)
    with pytest.raises(openai.NotFoundError):
        theirs.evals.delete(made.id)
