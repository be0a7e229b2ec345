"""Berth's own trainers, registered through the same hook as third-party ones."""

from __future__ import annotations

from berth.hookspecs import Registry
from berth.training.dpo import DpoTrainer
from berth.training.lora import LoraTrainer
from berth.training.trainer import TrainerType


def register(registry: Registry) -> None:
    """Register the causal-LM LoRA trainers (methods ``supervised`` and ``dpo``)."""
    registry.add_trainer(TrainerType("lora-causal-lm", frozenset({"supervised"}), LoraTrainer))
    registry.add_trainer(TrainerType("lora-dpo", frozenset({"dpo"}), DpoTrainer))
