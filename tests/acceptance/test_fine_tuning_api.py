"""Fine-tuning through OpenAI's API on a real ``berth serve``, driven by the official
``openai`` client unchanged: upload, create, follow the events and checkpoints, wait for
success, then chat with the fine-tuned model and with each of its checkpoints; bad files and
bad bases refused before anything is queued; cancel, pause and resume."""

from __future__ import annotations

import io
import json
import re
import time
from collections.abc import Iterator

import httpx
import openai
import pytest

from tests.acceptance.live import LiveServer, keyed_client, live_server
from tests.tiny.causal_lm import session_causal_lm

pytestmark = [pytest.mark.acceptance, pytest.mark.slow]
MODEL = "tiny-lm"
QUESTION = "What is the code word?"
ANSWER = "harbour weather"
STEPS = 40
LORA = {"rank": 8, "alpha": 16, "max_steps": STEPS, "checkpoint_every": 10, "learning_rate": 1e-2}


def jsonl(*records: object) -> bytes:
    return "".join(json.dumps(record) + "\n" for record in records).encode()


def chat(question: str, answer: str) -> dict[str, object]:
    return {
        "messages": [
            {"role": "user", "content": question},
            {"role": "assistant", "content": answer},
        ]
    }


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    model_dir = session_causal_lm(tmp_path_factory)
    home = tmp_path_factory.mktemp("serve") / "home"
    home.mkdir(parents=True)
    (home / "catalog.toml").write_text(
        f'[models.{MODEL}]\ntask = "chat"\nrunner = "transformers"\n'
        f'source = "local:{model_dir}"\n'
        '[models.tiny-echo]\ntask = "echo"\nrunner = "echo"\nsource = "none:"\n'
    )
    with live_server(home, BERTH_LOAD_WAIT_SECONDS="120") as live:
        yield live


@pytest.fixture(scope="module")
def client(server: LiveServer) -> Iterator[openai.OpenAI]:
    with keyed_client(server, "tuner", "jobs,infer") as opened:
        yield opened


def upload(client: openai.OpenAI, data: bytes, name: str = "train.jsonl") -> str:
    return client.files.create(file=(name, io.BytesIO(data)), purpose="fine-tune").id


def wait_for(client: openai.OpenAI, job_id: str, statuses: set[str], seconds: float = 240) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        status = client.fine_tuning.jobs.retrieve(job_id).status
        if status in statuses:
            return status
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} is still {status}")


def ask(
    client: openai.OpenAI, model: str, messages: list[openai.types.chat.ChatCompletionMessageParam]
) -> tuple[str | None, float]:
    """The model's greedy answer and its first token's logprob."""
    answer = client.chat.completions.create(
        model=model, messages=messages, max_tokens=12, temperature=0, logprobs=True
    )
    choice = answer.choices[0]
    assert choice.logprobs is not None and choice.logprobs.content
    return choice.message.content, choice.logprobs.content[0].logprob


def last_step_once_still(client: openai.OpenAI, job_id: str, quiet: float = 3.0) -> int:
    """The last step a job's metrics reached, once no new step came for ``quiet`` seconds."""
    deadline, last, since = time.monotonic() + 120, -1, time.monotonic()
    while time.monotonic() - since < quiet:
        assert time.monotonic() < deadline, "the run did not stop"
        events = client.fine_tuning.jobs.list_events(job_id, limit=5)
        steps = [e.data["step"] for e in events if e.type == "metrics" and isinstance(e.data, dict)]
        step = int(max(steps, default=-1))
        if step != last:
            last, since = step, time.monotonic()
        time.sleep(0.2)
    return last


def bearer(client: openai.OpenAI) -> dict[str, str]:
    return {"Authorization": f"Bearer {client.api_key}"}


def training_page(server: LiveServer, secret: str, tune_id: str) -> str:
    """The training page, after logging in to the UI with the key."""
    with httpx.Client(base_url=server.url, timeout=30) as browser:
        form = browser.get("/login").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', form)
        assert token is not None
        data = {"csrf_token": token.group(1), "key": secret, "next": f"/fine-tuning/{tune_id}"}
        answer = browser.post("/login", data=data, follow_redirects=True)
        assert answer.status_code == 200, answer.text
        return answer.text


def test_a_fine_tune_runs_to_a_model_that_answers_at_once(
    client: openai.OpenAI, server: LiveServer
) -> None:
    training = upload(client, jsonl(*[chat(QUESTION, ANSWER)] * 4))
    validation = upload(client, jsonl(chat(QUESTION, ANSWER)), "valid.jsonl")
    messages: list[openai.types.chat.ChatCompletionMessageParam] = [
        {"role": "user", "content": QUESTION}
    ]
    before = client.chat.completions.create(
        model=MODEL, messages=messages, max_tokens=12, temperature=0
    )
    job = client.fine_tuning.jobs.create(
        model=MODEL,
        training_file=training,
        validation_file=validation,
        hyperparameters={"n_epochs": 100, "batch_size": 2, "learning_rate_multiplier": 1.0},
        seed=3,
        suffix="codeword",
        extra_body={"lora": LORA},
    )
    assert job.id.startswith("ftjob-") and job.status == "queued"
    assert (job.model, job.training_file, job.validation_file, job.seed) == (
        MODEL, training, validation, 3,
    )  # fmt: skip
    assert job.hyperparameters.batch_size == 2
    assert wait_for(client, job.id, {"succeeded", "failed", "cancelled"}) == "succeeded"
    done = client.fine_tuning.jobs.retrieve(job.id)
    assert done.fine_tuned_model and done.fine_tuned_model.startswith("ft-tiny-lm-codeword-")
    assert done.trained_tokens and done.trained_tokens > 0 and done.finished_at
    assert job.id in [listed.id for listed in client.fine_tuning.jobs.list(limit=5)]

    events = list(client.fine_tuning.jobs.list_events(job.id, limit=100))
    metrics = [e.data for e in events if e.type == "metrics"]
    assert isinstance(metrics[0], dict) and isinstance(metrics[-1], dict)
    assert sorted(m["step"] for m in metrics) == list(range(1, STEPS + 1))  # type: ignore[index]
    last, first = metrics[0], metrics[-1]  # newest first
    assert last["train_loss"] < 0.2 * first["train_loss"]  # type: ignore[index]
    assert {"learning_rate", "tokens_per_second", "valid_loss"} <= set(last)  # type: ignore[arg-type]
    page = client.fine_tuning.jobs.list_events(job.id, limit=3)
    assert len(page.data) == 3 and page.has_more

    checkpoints = list(client.fine_tuning.jobs.checkpoints.list(job.id))
    assert [c.step_number for c in checkpoints] == [40, 30, 20, 10]
    assert checkpoints[0].metrics.train_loss is not None
    assert checkpoints[0].fine_tuning_job_id == job.id

    after = client.chat.completions.create(
        model=done.fine_tuned_model, messages=messages, max_tokens=12, temperature=0
    )
    assert after.choices[0].message.content == ANSWER
    assert before.choices[0].message.content != ANSWER
    assert done.fine_tuned_model in [m.id for m in client.models.list()]

    names = [c.fine_tuned_model_checkpoint for c in checkpoints]
    assert names == [f"{done.fine_tuned_model}-step-{c.step_number}" for c in checkpoints]
    answers = {
        c.step_number: ask(client, c.fine_tuned_model_checkpoint, messages) for c in checkpoints
    }
    assert answers[40][0] == ANSWER != before.choices[0].message.content
    assert ask(client, done.fine_tuned_model, messages) == answers[40]
    sure = [answers[step][1] for step in (10, 20, 30, 40)]
    assert len(set(sure)) == 4, f"each checkpoint serves its own adapter: {sure}"
    first_id = checkpoints[-1].id
    with httpx.Client(base_url=f"{server.url}/v1", headers=bearer(client), timeout=60) as http:
        served = http.post(f"/fine_tuning/jobs/{job.id}/checkpoints/{first_id}/serve")
        assert served.status_code == 200, served.text
        assert served.json()["fine_tuned_model_checkpoint"] == names[-1]
        missing = http.post(f"/fine_tuning/jobs/{job.id}/checkpoints/ftckpt-nope/serve")
        assert missing.status_code == 404 and "no checkpoint" in missing.text
    assert ask(client, names[-1], messages) == answers[10]

    page = training_page(server, client.api_key, job.id)
    for checkpoint in checkpoints:
        assert f'data-checkpoint="{checkpoint.id}">Serve this one</button>' in page
    curve = re.search(r'<polyline class="train"[^>]* points="([^"]*)"', page)
    assert curve is not None and len(curve.group(1).split()) == STEPS
    assert done.fine_tuned_model in page and "succeeded" in page


def test_bad_files_and_bases_are_refused_before_queueing(client: openai.OpenAI) -> None:
    good = upload(client, jsonl(chat(QUESTION, ANSWER)))
    weighted = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant",
                "content": "a", "weight": 5}]}  # fmt: skip
    bad = upload(client, jsonl(chat(QUESTION, ANSWER), weighted))
    with pytest.raises(openai.BadRequestError, match=r"training_file, line 2: messages\[1\]"):
        client.fine_tuning.jobs.create(model=MODEL, training_file=bad)
    evals = client.files.create(
        file=("e.jsonl", io.BytesIO(jsonl({"item": {"q": 1}}))), purpose="evals"
    ).id
    with pytest.raises(openai.BadRequestError, match="purpose 'fine-tune'"):
        client.fine_tuning.jobs.create(model=MODEL, training_file=good, validation_file=evals)
    with pytest.raises(openai.BadRequestError, match="training_file: no file has the id"):
        client.fine_tuning.jobs.create(model=MODEL, training_file="file-nope")
    with pytest.raises(openai.BadRequestError, match="fine-tunes causal LMs"):
        client.fine_tuning.jobs.create(model="tiny-echo", training_file=good)
    with pytest.raises(openai.BadRequestError, match="model: "):
        client.fine_tuning.jobs.create(model="no-such-model", training_file=good)
    listed = list(client.fine_tuning.jobs.list(limit=100))
    assert all(job.training_file != bad for job in listed)


def test_cancel_pause_and_resume(client: openai.OpenAI) -> None:
    training = upload(client, jsonl(*[chat(QUESTION, ANSWER)] * 4))
    slow = {**LORA, "max_steps": 100_000, "checkpoint_every": 5}
    job = client.fine_tuning.jobs.create(
        model=MODEL, training_file=training, hyperparameters={"n_epochs": 100_000},
        extra_body={"lora": slow},
    )  # fmt: skip
    wait_for(client, job.id, {"running"})
    deadline = time.monotonic() + 120
    while not list(client.fine_tuning.jobs.checkpoints.list(job.id)):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    paused = client.fine_tuning.jobs.pause(job.id)
    assert paused.status in {"pausing", "paused"}
    assert wait_for(client, job.id, {"paused"}) == "paused"
    kept = max(c.step_number for c in client.fine_tuning.jobs.checkpoints.list(job.id))
    resumed = client.fine_tuning.jobs.resume(job.id)
    assert resumed.status == "queued"
    wait_for(client, job.id, {"running"})
    deadline = time.monotonic() + 120
    while not any(
        "Resumed from the checkpoint" in e.message
        for e in client.fine_tuning.jobs.list_events(job.id, limit=20)
    ):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    events = list(client.fine_tuning.jobs.list_events(job.id, limit=100))
    resumed_at = next(e for e in events if "Resumed from the checkpoint" in e.message)
    assert resumed_at.message == f"Resumed from the checkpoint at step {kept}."
    cancelled = client.fine_tuning.jobs.cancel(job.id)
    assert cancelled.status == "cancelled"
    stopped_at = last_step_once_still(client, job.id)
    assert stopped_at < slow["max_steps"]
    kept_now = list(client.fine_tuning.jobs.checkpoints.list(job.id))
    assert kept in [c.step_number for c in kept_now]
    newest = max(kept_now, key=lambda c: c.step_number)
    assert newest.step_number <= stopped_at
    answer, _ = ask(client, newest.fine_tuned_model_checkpoint, [{"role": "user", "content": "q"}])
    assert answer is not None, "the last checkpoint is kept and serves"
    with pytest.raises(openai.BadRequestError, match="cancelled"):
        client.fine_tuning.jobs.cancel(job.id)
    with pytest.raises(openai.NotFoundError):
        client.fine_tuning.jobs.retrieve("ftjob-00000000000000000000000000")
