"""Berth's own trainers, registered through the same hook as third-party ones."""

from __future__ import annotations

from berth.hookspecs import Registry
from berth.training.lora import LoraTrainer
from berth.training.trainer import TrainerType


def register(registry: Registry) -> None:
    """Register the causal-LM LoRA trainer (method ``supervised``)."""
    registry.add_trainer(TrainerType("lora-causal-lm", frozenset({"supervised"}), LoraTrainer))
