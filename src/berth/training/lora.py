"""The causal-LM LoRA trainers' common loop: PEFT on transformers, in a small loop of its own
so that a checkpoint holds exactly what resume needs (adapter, optimizer, scheduler, RNG, step)
and a resumed run takes the same steps on the same batches as an uninterrupted one. The
supervised trainer is here; a trainer with another loss (see :mod:`berth.training.dpo`)
subclasses :class:`AdapterTrainer` with its own examples and loss.

Batches are a function of (seed, epoch, step): epoch ``e`` shuffles the examples with a
generator seeded ``seed + e``, so the data position is the step itself.
"""

from __future__ import annotations

import math
import random
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from berth import errors
from berth.training.examples import IGNORED, Example, Message, encode
from berth.training.preferences import Preference
from berth.training.record import Hyperparameters, LoraOptions

STATE_FILE = "trainer_state.pt"
DEFAULT_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj")
Item = TypeVar("Item")
Source = TypeVar("Source")


@dataclass(frozen=True, slots=True)
class StepMetrics:
    step: int
    total_steps: int
    train_loss: float
    learning_rate: float
    tokens: int
    tokens_per_second: float
    extra: Mapping[str, float] = field(default_factory=dict)
    """The trainer's own metrics (dpo: reward_margin, reward_accuracy)."""


@dataclass(frozen=True, slots=True)
class TrainingPlan:
    """What one LoRA run trains: chat conversations (supervised) or preferences (dpo)."""

    base: Path
    training: Sequence[Sequence[Message]] = ()
    validation: Sequence[Sequence[Message]] = ()
    hyperparameters: Hyperparameters = field(default_factory=Hyperparameters)
    lora: LoraOptions = field(default_factory=LoraOptions)
    seed: int = 0
    preferences: Sequence[Preference] = ()
    validation_preferences: Sequence[Preference] = ()
    device: str = "cpu"
    """Where it trains: ``cpu`` or ``cuda:N`` (the base model's device in the catalog)."""


class AdapterTrainer(Generic[Item]):
    """A LoRA adapter on a causal LM, trained one optimizer step at a time on the CPU or a
    device; blocking (run its steps in a worker thread). Subclasses say what an example is
    (:meth:`examples`) and what a batch's loss is (:meth:`loss`)."""

    def __init__(self, plan: TrainingPlan) -> None:
        import torch
        import transformers
        from peft import LoraConfig, get_peft_model
        from transformers import AutoModelForCausalLM, AutoTokenizer

        quiet: Any = transformers.utils.logging.disable_progress_bar
        quiet()
        self.plan, self._device, self._torch = plan, plan.device, torch
        torch.manual_seed(plan.seed)
        random.seed(plan.seed)
        self.tokenizer: Any = AutoTokenizer.from_pretrained(plan.base, local_files_only=True)
        base: Any = AutoModelForCausalLM.from_pretrained(
            plan.base, local_files_only=True, dtype=torch.float32
        )
        context = int(getattr(base.config, "max_position_embeddings", 2048))
        self.training, self.validation = self.examples(plan, context)
        if not self.training:
            raise errors.InvalidTrainingData("training_file: this method found no examples in it.")
        options = plan.lora
        config = LoraConfig(
            r=options.rank,
            lora_alpha=options.alpha,
            lora_dropout=options.dropout,
            target_modules=list(options.target_modules or _targets(base)),
            task_type="CAUSAL_LM",
        )
        with warnings.catch_warnings():
            # PEFT 0.21 reads a property transformers 5.2x deprecated; nothing for us to change.
            warnings.filterwarnings("ignore", "`is_gradient_checkpointing`", FutureWarning)
            self.model: Any = get_peft_model(base, config).to(plan.device)
        self.model.train()
        hyper = plan.hyperparameters
        self.learning_rate = options.base_learning_rate * hyper.learning_rate_multiplier
        trainable = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(trainable, lr=self.learning_rate, weight_decay=0.0)
        self.steps_per_epoch = math.ceil(len(self.training) / hyper.batch_size)
        total = self.steps_per_epoch * hyper.n_epochs
        self.total_steps = min(total, options.max_steps) if options.max_steps else total
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda done: max(0.0, 1.0 - done / max(1, self.total_steps))
        )
        self.step = 0
        self.trained_tokens = 0

    def examples(self, plan: TrainingPlan, context: int) -> tuple[list[Item], list[Item]]:
        """The tokenized training and validation examples of the plan."""
        raise NotImplementedError

    def loss(self, batch: Sequence[Item]) -> tuple[Any, int, dict[str, float]]:
        """The batch's loss tensor, its token count and the trainer's own metrics."""
        raise NotImplementedError

    def validation_loss(self) -> float | None:
        """The loss on the validation examples (None without any)."""
        raise NotImplementedError

    @staticmethod
    def encoded(
        sources: Sequence[Source], encoder: Callable[[Source], Item], label: str
    ) -> list[Item]:
        """Each source encoded; InvalidTrainingData naming the file and example."""
        found = []
        for number, source in enumerate(sources, start=1):
            try:
                found.append(encoder(source))
            except ValueError as exc:
                raise errors.InvalidTrainingData(f"{label}, example {number}: {exc}.") from exc
        return found

    @property
    def done(self) -> bool:
        return self.step >= self.total_steps

    def batch_indices(self, step: int) -> list[int]:
        """The examples of step ``step`` (0-based): a function of the seed, epoch and step."""
        epoch, within = divmod(step, self.steps_per_epoch)
        generator = self._torch.Generator().manual_seed(self.plan.seed + epoch)
        order = self._torch.randperm(len(self.training), generator=generator).tolist()
        size = self.plan.hyperparameters.batch_size
        return [int(i) for i in order[within * size : (within + 1) * size]]

    def tensors(self, examples: Sequence[Example]) -> dict[str, Any]:
        """Padded ``input_ids``, ``labels`` and ``attention_mask`` on the device."""
        torch = self._torch
        width = max(len(e.input_ids) for e in examples)
        pad = self.tokenizer.pad_token_id or 0
        ids = [e.input_ids + [pad] * (width - len(e.input_ids)) for e in examples]
        labels = [e.labels + [IGNORED] * (width - len(e.labels)) for e in examples]
        mask = [[1] * len(e.input_ids) + [0] * (width - len(e.input_ids)) for e in examples]
        return {
            "input_ids": torch.tensor(ids, device=self._device),
            "labels": torch.tensor(labels, device=self._device),
            "attention_mask": torch.tensor(mask, device=self._device),
        }

    def train_step(self) -> StepMetrics:
        """Take the next optimizer step and say how it went."""
        started = time.perf_counter()
        batch = [self.training[i] for i in self.batch_indices(self.step)]
        rate = float(self.scheduler.get_last_lr()[0])
        loss, tokens, extra = self.loss(batch)
        loss.backward()
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        self.trained_tokens += tokens
        seconds = max(time.perf_counter() - started, 1e-9)
        value = float(loss.detach())
        return StepMetrics(
            self.step, self.total_steps, value, rate, tokens, tokens / seconds, extra
        )

    def save(self, folder: Path) -> None:
        """Write the adapter and everything resume needs into ``folder``."""
        self.model.save_pretrained(folder, safe_serialization=True)
        torch = self._torch
        state = {
            "step": self.step,
            "trained_tokens": self.trained_tokens,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "python_rng": list(random.getstate()[1]),
        }
        if self._device.startswith("cuda"):
            state["cuda_rng"] = torch.cuda.get_rng_state(self._device)
        torch.save(state, folder / STATE_FILE)

    def restore(self, folder: Path) -> None:
        """Continue from a checkpoint :meth:`save` wrote (already verified)."""
        from peft import set_peft_model_state_dict
        from safetensors.torch import load_file

        torch = self._torch
        weights = load_file(str(folder / "adapter_model.safetensors"), device=self._device)
        set_peft_model_state_dict(self.model, weights)
        state = torch.load(folder / STATE_FILE, weights_only=True, map_location=self._device)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["torch_rng"].cpu())
        if "cuda_rng" in state and self._device.startswith("cuda"):
            torch.cuda.set_rng_state(state["cuda_rng"].cpu(), self._device)
        random.setstate((3, tuple(state["python_rng"]), None))
        self.step, self.trained_tokens = int(state["step"]), int(state["trained_tokens"])


class LoraTrainer(AdapterTrainer[Example]):
    """Supervised LoRA: cross-entropy on the assistant tokens of chat conversations."""

    def examples(self, plan: TrainingPlan, context: int) -> tuple[list[Example], list[Example]]:
        def one(messages: Sequence[Message]) -> Example:
            return encode(self.tokenizer, messages, context)

        return (
            self.encoded(plan.training, one, "training_file"),
            self.encoded(plan.validation, one, "validation_file"),
        )

    def loss(self, batch: Sequence[Example]) -> tuple[Any, int, dict[str, float]]:
        output = self.model(**self.tensors(batch))
        return output.loss, sum(len(e.input_ids) for e in batch), {}

    def validation_loss(self) -> float | None:
        """The mean loss over the validation examples (None without any)."""
        if not self.validation:
            return None
        self.model.eval()
        total, count = 0.0, 0
        with self._torch.no_grad():
            for example in self.validation:
                loss = self.model(**self.tensors([example])).loss
                total, count = total + float(loss) * example.trained, count + example.trained
        self.model.train()
        return total / max(count, 1)


def _targets(model: Any) -> tuple[str, ...]:
    names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    found = tuple(name for name in DEFAULT_TARGETS if name in names)
    if not found:
        raise errors.InvalidRequest(
            "Berth does not know which modules of this model to adapt: "
            "give target_modules in the job's lora options."
        )
    return found
