"""``method: dpo`` through OpenAI's fine-tuning API on a real ``berth serve``, driven by the
official ``openai`` client: a preference file trains, with the reward margin and accuracy in
the events, to a model that answers at once and differently from its base (that the
preferred answer pulls ahead is shown on the trainer in test_dpo_trainer.py); the wrong
file shape for a method, and a method no trainer offers, refused before anything is queued."""

from __future__ import annotations

import re
from collections.abc import Iterator

import openai
import pytest

from tests.acceptance.live import LiveServer, keyed_client, live_server
from tests.acceptance.test_fine_tuning_api import ask, chat, jsonl, training_page, upload, wait_for
from tests.tiny.causal_lm import session_causal_lm

pytestmark = [pytest.mark.acceptance, pytest.mark.slow]
MODEL = "tiny-lm"
QUESTION = "Which word?"
PREFERRED = "harbour harbour"
REJECTED = "fox dog"
LORA = {"rank": 8, "alpha": 16, "max_steps": 24, "checkpoint_every": 12, "learning_rate": 1e-2}


def preference(question: str, preferred: str, rejected: str) -> dict[str, object]:
    return {
        "input": {"messages": [{"role": "user", "content": question}]},
        "preferred_output": [{"role": "assistant", "content": preferred}],
        "non_preferred_output": [{"role": "assistant", "content": rejected}],
    }


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    model_dir = session_causal_lm(tmp_path_factory)
    home = tmp_path_factory.mktemp("serve-dpo") / "home"
    home.mkdir(parents=True)
    (home / "catalog.toml").write_text(
        f'[models.{MODEL}]\ntask = "chat"\nrunner = "transformers"\nsource = "local:{model_dir}"\n'
    )
    with live_server(home, BERTH_LOAD_WAIT_SECONDS="120") as live:
        yield live


@pytest.fixture(scope="module")
def client(server: LiveServer) -> Iterator[openai.OpenAI]:
    with keyed_client(server, "tuner", "jobs,infer") as opened:
        yield opened


def test_a_dpo_job_trains_to_a_model_that_answers_at_once(
    client: openai.OpenAI, server: LiveServer
) -> None:
    training = upload(client, jsonl(*[preference(QUESTION, PREFERRED, REJECTED)] * 4))
    job = client.fine_tuning.jobs.create(
        model=MODEL,
        training_file=training,
        method={
            "type": "dpo",
            "dpo": {"hyperparameters": {"beta": 0.5, "batch_size": 2, "n_epochs": 100}},
        },
        seed=5,
        suffix="prefer",
        extra_body={"lora": LORA},
    )
    assert job.method is not None and job.method.type == "dpo"
    assert job.method.dpo is not None and job.method.dpo.hyperparameters is not None
    assert job.method.dpo.hyperparameters.beta == 0.5
    assert wait_for(client, job.id, {"succeeded", "failed"}) == "succeeded"
    done = client.fine_tuning.jobs.retrieve(job.id)
    assert done.fine_tuned_model is not None and done.error is None
    metrics = [
        e.data
        for e in client.fine_tuning.jobs.list_events(job.id, limit=100)
        if e.type == "metrics" and isinstance(e.data, dict)
    ]
    last = max(metrics, key=lambda data: data["step"])
    assert last["step"] == 24 and last["reward_margin"] > 0 and last["reward_accuracy"] == 1.0
    assert last["train_loss"] < 0.3
    page = training_page(server, client.api_key, job.id)
    for name in ("reward_margin", "reward_accuracy"):
        drawn = re.search(rf'data-metric="{name}">.*?points="([^"]*)"', page, re.S)
        assert drawn is not None, f"the training page charts {name}"
        assert len(drawn.group(1).split()) == len(metrics)
    question: list[openai.types.chat.ChatCompletionMessageParam] = [
        {"role": "user", "content": QUESTION}
    ]
    tuned, _ = ask(client, done.fine_tuned_model, question)
    base, _ = ask(client, MODEL, question)
    assert tuned and base and tuned != base


def test_files_of_the_other_method_and_unknown_methods_are_refused(
    client: openai.OpenAI,
) -> None:
    chats = upload(client, jsonl(chat(QUESTION, PREFERRED)))
    prefs = upload(client, jsonl(preference(QUESTION, PREFERRED, REJECTED)))
    twice = preference(QUESTION, PREFERRED, REJECTED)
    twice["preferred_output"] = [{"role": "assistant", "content": PREFERRED}] * 2
    bad = upload(client, jsonl(preference(QUESTION, PREFERRED, REJECTED), twice))
    dpo = {"type": "dpo", "dpo": {"hyperparameters": {"beta": 0.1}}}
    with pytest.raises(openai.BadRequestError, match="line 1: this is a supervised"):
        client.fine_tuning.jobs.create(model=MODEL, training_file=chats, method=dpo)
    with pytest.raises(openai.BadRequestError, match="line 1: this is a preference"):
        client.fine_tuning.jobs.create(model=MODEL, training_file=prefs)
    with pytest.raises(openai.BadRequestError, match=r"line 2: preferred_output: must be"):
        client.fine_tuning.jobs.create(model=MODEL, training_file=bad, method=dpo)
    with pytest.raises(openai.BadRequestError, match="'reinforcement'"):
        client.fine_tuning.jobs.create(
            model=MODEL, training_file=chats, method={"type": "reinforcement"}
        )
    listed = list(client.fine_tuning.jobs.list(limit=100))
    assert not any(job.training_file in (chats, prefs, bad) for job in listed)
