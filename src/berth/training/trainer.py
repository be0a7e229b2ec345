"""The trainer contract: what the ``fine-tune`` kind drives, one optimizer step at a time.

Trainers are plugins (entry-point group ``berth.trainers``), registered like runners::

    registry.add_trainer(TrainerType(name="my-trainer", methods=frozenset({"supervised"}),
                                     create=MyTrainer))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from berth.training.lora import StepMetrics, TrainingPlan


class Trainer(Protocol):
    """One training run (blocking calls: the kind runs them in a worker thread)."""

    step: int
    """Optimizer steps taken so far."""
    total_steps: int
    trained_tokens: int

    @property
    def done(self) -> bool: ...

    def train_step(self) -> StepMetrics:
        """Take the next step."""
        ...

    def validation_loss(self) -> float | None:
        """The loss on the validation examples (None without any)."""
        ...

    def save(self, folder: Path) -> None:
        """Write the adapter (``adapter_model.safetensors``) and all resume needs."""
        ...

    def restore(self, folder: Path) -> None:
        """Go on from what :meth:`save` wrote."""
        ...


@dataclass(frozen=True)
class TrainerType:
    """A trainer plugin: its name, the fine-tuning methods it trains, and its factory."""

    name: str
    methods: frozenset[str]
    create: Callable[[TrainingPlan], Trainer]
