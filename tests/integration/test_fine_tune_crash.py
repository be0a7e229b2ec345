"""kill -9 in the middle of a fine-tune: a real ``berth worker`` is SIGKILLed between
checkpoints, a second worker takes the job over once its lease expires, resumes from the
newest complete checkpoint at its step (not step 0), takes exactly the steps that were left,
and ends with the same adapter as an uninterrupted run with the same seed; for the supervised
trainer on SQLite and PostgreSQL, and for the dpo trainer on SQLite."""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from berth.app import Berth
from berth.settings import Settings
from berth.training.checkpoints import ADAPTER_WEIGHTS, CheckpointStore
from berth.training.dpo import DpoTrainer
from berth.training.examples import Message
from berth.training.lora import AdapterTrainer, LoraTrainer, TrainingPlan
from berth.training.preferences import Preference
from berth.training.record import EventType, FineTuningJob, Hyperparameters, LoraOptions
from tests.integration.worker_process import WorkerProcess, worker_env
from tests.tiny.causal_lm import session_causal_lm

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(300)]
MODEL = "tiny-lm"
STEPS = 80
EVERY = 10
SEED = 11
HYPER = Hyperparameters(n_epochs=1000, batch_size=2, learning_rate_multiplier=1.0)
LORA = LoraOptions(
    rank=4, alpha=8, max_steps=STEPS, checkpoint_every=EVERY, base_learning_rate=3e-3
)
WORDS = ("harbour", "weather", "fox", "dog", "sea", "model")
SETTINGS = {
    "BERTH_LEASE_SECONDS": "2",
    "BERTH_HEARTBEAT_SECONDS": "0.3",
    "BERTH_REAP_SECONDS": "0.3",
    "BERTH_POLL_SECONDS": "0.2",
    "BERTH_DRAIN_SECONDS": "5",
}


def conversations() -> list[list[Message]]:
    return [
        [Message("user", f"Say {word}."), Message("assistant", f"{word}, {word}.")]
        for word in WORDS
    ]


def preferences() -> list[Preference]:
    return [
        Preference((Message("user", f"Say {word}."),), f"{word}, {word}.", f"not {word}.")
        for word in WORDS
    ]


def training_bytes(method: str) -> bytes:
    def turn(role: str, content: str) -> dict[str, str]:
        return {"role": role, "content": content}

    lines: list[dict[str, Any]] = [
        {"messages": [turn(m.role, m.content) for m in conversation]}
        for conversation in conversations()
    ]
    if method == "dpo":
        lines = [
            {
                "input": {"messages": [turn("user", p.prompt[0].content)]},
                "preferred_output": [turn("assistant", p.preferred)],
                "non_preferred_output": [turn("assistant", p.rejected)],
            }
            for p in preferences()
        ]
    return "".join(json.dumps(line) + "\n" for line in lines).encode()


async def wait(check: Callable[[], object], what: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not await check():  # type: ignore[misc]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


def reference_adapter(base: Path, folder: Path, method: str) -> tuple[dict[str, torch.Tensor], int]:
    trainer: AdapterTrainer[Any]
    if method == "dpo":
        trainer = DpoTrainer(TrainingPlan(base, (), (), HYPER, LORA, SEED, preferences()))
    else:
        trainer = LoraTrainer(TrainingPlan(base, conversations(), (), HYPER, LORA, SEED))
    while not trainer.done:
        trainer.train_step()
    trainer.save(folder)
    return load_file(str(folder / ADAPTER_WEIGHTS)), trainer.trained_tokens


async def newest_checkpoint(berth: Berth, tune_id: str, killed_at: int) -> int:
    """The step the killed run must resume at: its newest complete checkpoint on disk (one
    the kill left unrecorded included), at or after the newest recorded one."""
    saved = [c.step for c in await berth.stores.fine_tuning.list_checkpoints(tune_id)]
    newest = CheckpointStore(berth.services.fine_tuning.folder(tune_id) / "checkpoints").latest()
    assert saved and newest is not None and killed_at < STEPS
    assert max(saved) <= newest.step <= killed_at
    return newest.step


@pytest.mark.parametrize(
    ("store_kind", "method"),
    [("sqlite", "supervised"), ("postgres", "supervised"), ("sqlite", "dpo")],
)
async def test_a_killed_fine_tune_resumes_at_its_checkpoint_to_the_same_adapter(
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    store_url_factory: Callable[[str], str],
    store_kind: str,
    method: str,
) -> None:
    base = session_causal_lm(tmp_path_factory)
    home = tmp_path / "home"
    home.mkdir()
    (home / "catalog.toml").write_text(
        f'[models.{MODEL}]\ntask = "chat"\nrunner = "transformers"\nsource = "local:{base}"\n'
    )
    url = store_url_factory(store_kind)
    settings = Settings(home=home, database_url=url)
    env = worker_env(home, url, SETTINGS)
    workers: list[WorkerProcess] = []
    try:
        async with Berth(settings) as berth:
            services = berth.services
            stored = await services.files.upload(
                None, "train.jsonl", "fine-tune", io.BytesIO(training_bytes(method))
            )
            tune = await services.fine_tuning.create(
                None, model=MODEL, training_file=stored.id, hyperparameters=HYPER, lora=LORA,
                seed=SEED, method=method,
            )  # fmt: skip
            store = berth.stores.fine_tuning

            async def steps() -> list[int]:
                events = await store.list_events(tune.id, limit=10_000)
                return [
                    int(e.data["step"]) for e in events if e.type is EventType.METRICS and e.data
                ]

            async def past_a_checkpoint() -> bool:
                done = await steps()
                return bool(done) and max(done) >= 2 * EVERY + EVERY // 2

            first = WorkerProcess(env, tmp_path / "worker-0.log")
            workers.append(first)
            await wait(past_a_checkpoint, "the run to pass its second checkpoint")
            first.kill()
            killed_at = max(await steps())
            resume_step = await newest_checkpoint(berth, tune.id, killed_at)

            second = WorkerProcess(env, tmp_path / "worker-1.log")
            workers.append(second)

            async def finished() -> FineTuningJob | None:
                current = await store.get(tune.id)
                return current if current.status.finished else None

            await wait(finished, "the fine-tune to finish", seconds=200)
            done = await store.get(tune.id)
            assert done.status.value == "succeeded", (done.error, second.log())

            events = await store.list_events(tune.id, limit=10_000)
            messages = [e.message for e in reversed(events)]
            assert f"Resumed from the checkpoint at step {resume_step}." in messages
            order = list(reversed(await steps()))
            first_run = list(range(1, killed_at + 1))
            assert order == first_run + list(range(resume_step + 1, STEPS + 1))
            assert max(order) == STEPS

            final = (await store.list_checkpoints(tune.id, limit=1))[0]
            assert final.step == STEPS
            expected, tokens = reference_adapter(base, tmp_path / "reference", method)
            got = load_file(str(Path(final.path) / ADAPTER_WEIGHTS))
            assert expected.keys() == got.keys()
            for name, tensor in expected.items():
                torch.testing.assert_close(got[name], tensor, rtol=1e-4, atol=1e-5)
            assert done.trained_tokens == tokens
    finally:
        for worker in workers:
            worker.close()
