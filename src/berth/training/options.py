"""Berth's own LoRA options as a caller gives them (the API's body and a run file share it),
checked and resolved into the trainer's :class:`~berth.training.record.LoraOptions`."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from berth.training.record import LoraOptions

DEFAULTS = LoraOptions()


class FineTuningLora(BaseModel):
    """Berth's own LoRA options."""

    model_config = ConfigDict(extra="forbid")

    rank: int = Field(default=DEFAULTS.rank, ge=1, le=1024)
    alpha: int = Field(default=DEFAULTS.alpha, ge=1, le=4096)
    dropout: float = Field(default=DEFAULTS.dropout, ge=0, lt=1)
    target_modules: list[str] = Field(default_factory=list, max_length=64)
    max_steps: int | None = Field(default=None, ge=1, le=10_000_000)
    checkpoint_every: int = Field(default=DEFAULTS.checkpoint_every, ge=1)
    learning_rate: float = Field(default=DEFAULTS.base_learning_rate, gt=0, le=1)

    def resolved(self) -> LoraOptions:
        return LoraOptions(
            rank=self.rank,
            alpha=self.alpha,
            dropout=self.dropout,
            target_modules=tuple(self.target_modules),
            max_steps=self.max_steps,
            checkpoint_every=self.checkpoint_every,
            base_learning_rate=self.learning_rate,
        )
