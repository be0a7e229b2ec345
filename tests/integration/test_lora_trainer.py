"""The LoRA trainer on the tiny Llama: assistant-only labels, a falling loss, checkpoints that
resume at their step to the same adapter, and torn checkpoints never loaded."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from berth import errors
from berth.training.checkpoints import ADAPTER_WEIGHTS, MANIFEST, CheckpointStore
from berth.training.examples import IGNORED, Message, encode, read_examples
from berth.training.lora import LoraTrainer, TrainingPlan
from berth.training.record import Hyperparameters, LoraOptions
from tests.tiny.causal_lm import session_causal_lm

pytestmark = pytest.mark.integration
CONVERSATIONS = [
    [
        Message("system", "You are brief."),
        Message("user", f"Say {word}."),
        Message("assistant", f"{word} {word}"),
    ]
    for word in ("harbour", "weather", "fox", "dog")
]


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return session_causal_lm(tmp_path_factory)


def plan(base: Path, steps: int, *, every: int = 4) -> TrainingPlan:
    return TrainingPlan(
        base=base,
        training=CONVERSATIONS,
        validation=CONVERSATIONS[:2],
        hyperparameters=Hyperparameters(n_epochs=100, batch_size=2, learning_rate_multiplier=1),
        lora=LoraOptions(
            rank=8, alpha=16, max_steps=steps, checkpoint_every=every, base_learning_rate=5e-3
        ),
        seed=7,
    )


def test_only_assistant_tokens_carry_labels(base: Path) -> None:
    trainer = LoraTrainer(plan(base, 1))
    tokenizer = trainer.tokenizer
    messages = [
        Message("user", "Hello there"),
        Message("assistant", "General Kenobi"),
        Message("user", "Again"),
        Message("assistant", "No", weight=0),
        Message("user", "Once more"),
        Message("assistant", "Fine then"),
    ]
    example = encode(tokenizer, messages, 128)
    assert len(example.input_ids) == len(example.labels)
    full = tokenizer.apply_chat_template(
        [{"role": m.role, "content": m.content} for m in messages], tokenize=False
    )
    assert tokenizer.decode(example.input_ids) == full
    runs: list[list[int]] = []
    for position, label in enumerate(example.labels):
        if label == IGNORED:
            continue
        assert label == example.input_ids[position]
        if runs and runs[-1][-1] == position - 1:
            runs[-1].append(position)
        else:
            runs.append([position])
    spans = [tokenizer.decode([example.input_ids[i] for i in run]) for run in runs]
    assert spans == ["General Kenobi<|eos|>", "Fine then<|eos|>"]


def test_bad_lines_are_named_by_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    path.write_text(
        '{"messages": [{"role": "user", "content": "hi"}, '
        '{"role": "assistant", "content": "yo"}]}\n'
        '{"messages": [{"role": "user", "content": "hi"}, {"role": "robot", "content": "x"}]}\n'
    )
    with pytest.raises(errors.InvalidTrainingData, match=r"line 2: messages\[1\]\.role"):
        read_examples(path, "training_file")
    path.write_text('{"messages": [{"role": "user", "content": "only a question"}]}\n')
    with pytest.raises(errors.InvalidTrainingData, match="line 1: messages: needs at least one"):
        read_examples(path, "training_file")
    path.write_text("not json\n")
    with pytest.raises(errors.InvalidTrainingData, match="training_file, line 1: is not valid"):
        read_examples(path, "training_file")


def test_the_training_loss_falls_on_a_memorisable_set(base: Path) -> None:
    trainer = LoraTrainer(plan(base, 30))
    before = trainer.validation_loss()
    losses = [trainer.train_step().train_loss for _ in range(30)]
    after = trainer.validation_loss()
    assert trainer.done and trainer.step == 30
    assert sum(losses[-5:]) / 5 < 0.5 * sum(losses[:5]) / 5
    assert before is not None and after is not None and after < 0.5 * before


def _adapter(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(str(folder / ADAPTER_WEIGHTS))


def test_a_restored_checkpoint_goes_on_to_the_same_adapter(base: Path, tmp_path: Path) -> None:
    whole = LoraTrainer(plan(base, 8))
    while not whole.done:
        whole.train_step()
    straight = CheckpointStore(tmp_path / "straight").save(whole.step, whole.save)

    first = LoraTrainer(plan(base, 8))
    for _ in range(5):
        first.train_step()
    store = CheckpointStore(tmp_path / "resumed")
    store.save(first.step, first.save)
    second = LoraTrainer(plan(base, 8))
    latest = store.latest()
    assert latest is not None and latest.step == 5
    second.restore(latest.path)
    assert second.step == 5
    steps = []
    while not second.done:
        steps.append(second.train_step().step)
    assert steps == [6, 7, 8]
    resumed = store.save(second.step, second.save)
    expected, got = _adapter(straight.path), _adapter(resumed.path)
    assert expected.keys() == got.keys() and expected
    for name, tensor in expected.items():
        torch.testing.assert_close(got[name], tensor, rtol=1e-5, atol=1e-6)
    assert second.trained_tokens == whole.trained_tokens


def test_a_torn_or_changed_checkpoint_is_skipped(base: Path, tmp_path: Path) -> None:
    trainer = LoraTrainer(plan(base, 4))
    store = CheckpointStore(tmp_path / "checkpoints")
    trainer.train_step()
    one = store.save(trainer.step, trainer.save, {"train_loss": 1.0})
    trainer.train_step()
    two = store.save(trainer.step, trainer.save)
    assert store.latest() == two and len(two.adapter_sha256) == 64
    (two.path / ADAPTER_WEIGHTS).write_bytes(b"torn")
    assert store.latest() == one and one.metrics == {"train_loss": 1.0}
    (one.path / MANIFEST).unlink()
    assert store.latest() is None
    half = tmp_path / "checkpoints" / ".tmp-00000003-1"
    half.mkdir()
    store.clear_temporary()
    assert not half.exists()
