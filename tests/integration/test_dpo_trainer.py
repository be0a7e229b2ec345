"""The DPO LoRA trainer on the tiny Llama: preference files read with each problem named,
the DPO loss falls and the preferred answer pulls ahead of the rejected one, and a restored
checkpoint goes on to the same adapter."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from berth import errors
from berth.training.checkpoints import ADAPTER_WEIGHTS, CheckpointStore
from berth.training.dpo import DpoTrainer
from berth.training.examples import IGNORED, Message, read_examples
from berth.training.lora import TrainingPlan
from berth.training.preferences import Preference, encode_pair, read_preferences
from berth.training.record import Hyperparameters, LoraOptions
from tests.tiny.causal_lm import session_causal_lm

pytestmark = pytest.mark.integration
PREFERENCES = [
    Preference(
        (Message("system", "You are brief."), Message("user", f"Say {word}.")),
        f"{word} {word}",
        f"no {other}",
    )
    for word, other in (("harbour", "thanks"), ("weather", "way"), ("fox", "idea"), ("dog", "x"))
]


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return session_causal_lm(tmp_path_factory)


def plan(base: Path, steps: int) -> TrainingPlan:
    return TrainingPlan(
        base=base,
        preferences=PREFERENCES,
        validation_preferences=PREFERENCES[:2],
        hyperparameters=Hyperparameters(
            n_epochs=100, batch_size=2, learning_rate_multiplier=1, beta=0.5
        ),
        lora=LoraOptions(rank=8, alpha=16, max_steps=steps, base_learning_rate=5e-3),
        seed=11,
    )


def _line(record: object) -> str:
    return json.dumps(record) + "\n"


GOOD = {
    "input": {"messages": [{"role": "user", "content": "hi"}]},
    "preferred_output": [{"role": "assistant", "content": "hello"}],
    "non_preferred_output": [{"role": "assistant", "content": "go away"}],
}


def test_bad_preference_lines_are_named_by_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "prefs.jsonl"
    path.write_text(_line(GOOD) + _line({**GOOD, "preferred_output": []}))
    with pytest.raises(errors.InvalidTrainingData, match=r"line 2: preferred_output: must be"):
        read_preferences(path, "training_file")
    robot = {**GOOD, "non_preferred_output": [{"role": "robot", "content": "x"}]}
    path.write_text(_line(robot))
    with pytest.raises(errors.InvalidTrainingData, match=r"non_preferred_output\[0\]\.role"):
        read_preferences(path, "training_file")
    path.write_text(_line({**GOOD, "input": {"messages": "hi"}}))
    with pytest.raises(errors.InvalidTrainingData, match=r"line 1: input\.messages: must be"):
        read_preferences(path, "validation_file")
    path.write_text(_line({**GOOD, "non_preferred_output": GOOD["preferred_output"]}))
    with pytest.raises(errors.InvalidTrainingData, match="must differ"):
        read_preferences(path, "training_file")


def test_each_method_refuses_the_other_methods_file(tmp_path: Path) -> None:
    chat = tmp_path / "chat.jsonl"
    chat.write_text(
        _line(
            {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}
        )
    )
    with pytest.raises(errors.InvalidTrainingData, match="line 1: this is a supervised"):
        read_preferences(chat, "training_file")
    prefs = tmp_path / "prefs.jsonl"
    prefs.write_text(_line(GOOD))
    with pytest.raises(errors.InvalidTrainingData, match="line 1: this is a preference"):
        read_examples(prefs, "training_file")
    [preference] = read_preferences(prefs, "training_file")
    assert preference == Preference((Message("user", "hi"),), "hello", "go away")


def test_only_the_answer_tokens_are_scored(base: Path) -> None:
    trainer = DpoTrainer(plan(base, 1))
    pair = encode_pair(trainer.tokenizer, PREFERENCES[0], 256)
    for example, answer in ((pair.chosen, "harbour harbour"), (pair.rejected, "no thanks")):
        scored = [
            i
            for i, label in zip(example.input_ids, example.labels, strict=True)
            if label != IGNORED
        ]
        assert trainer.tokenizer.decode(scored) == answer + "<|eos|>"


def test_the_dpo_loss_falls_and_the_preferred_answer_pulls_ahead(base: Path) -> None:
    trainer = DpoTrainer(plan(base, 16))
    before = trainer.preference_margins(trainer.training)
    first = trainer.train_step()
    assert first.train_loss == pytest.approx(0.6931, abs=1e-3)
    assert set(first.extra) == {"reward_margin", "reward_accuracy"}
    steps = [trainer.train_step() for _ in range(15)]
    after = trainer.preference_margins(trainer.training)
    assert trainer.done and trainer.step == 16
    assert sum(s.train_loss for s in steps[-4:]) / 4 < 0.5 * first.train_loss
    assert steps[-1].extra["reward_margin"] > 0
    assert all(a > b + 1.0 for a, b in zip(after, before, strict=True))
    valid = trainer.validation_loss()
    assert valid is not None and valid < 0.5 * first.train_loss


def test_a_restored_dpo_checkpoint_goes_on_to_the_same_adapter(base: Path, tmp_path: Path) -> None:
    whole = DpoTrainer(plan(base, 6))
    while not whole.done:
        whole.train_step()
    straight = CheckpointStore(tmp_path / "straight").save(whole.step, whole.save)
    first = DpoTrainer(plan(base, 6))
    for _ in range(3):
        first.train_step()
    store = CheckpointStore(tmp_path / "resumed")
    store.save(first.step, first.save)
    second = DpoTrainer(plan(base, 6))
    latest = store.latest()
    assert latest is not None
    second.restore(latest.path)
    steps = []
    while not second.done:
        steps.append(second.train_step().step)
    assert steps == [4, 5, 6]
    resumed = store.save(second.step, second.save)
    expected = load_file(str(straight.path / ADAPTER_WEIGHTS))
    got = load_file(str(resumed.path / ADAPTER_WEIGHTS))
    assert expected.keys() == got.keys() and expected
    for name, tensor in expected.items():
        torch.testing.assert_close(got[name], tensor, rtol=1e-5, atol=1e-6)
