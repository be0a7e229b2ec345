"""A fine-tuning job as OpenAI shapes it, its events and its checkpoints."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

FINE_TUNING_JOB_PREFIX = "ftjob-"
EVENT_PREFIX = "ftevent-"
CHECKPOINT_PREFIX = "ftckpt-"


class FineTuningStatus(enum.StrEnum):
    """Where a fine-tuning job stands, in OpenAI's words."""

    VALIDATING_FILES = "validating_files"
    QUEUED = "queued"
    RUNNING = "running"
    PAUSING = "pausing"
    PAUSED = "paused"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        """Whether the job has ended for good."""
        return self in FINISHED


FINISHED = frozenset(
    {FineTuningStatus.SUCCEEDED, FineTuningStatus.FAILED, FineTuningStatus.CANCELLED}
)


@dataclass(frozen=True, slots=True)
class Hyperparameters:
    """OpenAI's method hyperparameters, resolved to numbers (``beta``: dpo only)."""

    n_epochs: int = 3
    batch_size: int = 1
    learning_rate_multiplier: float = 1.0
    beta: float = 0.1
    """How far dpo lets the adapter move from the base model (DPO's temperature)."""


@dataclass(frozen=True, slots=True)
class LoraOptions:
    """Berth's own LoRA options (not in OpenAI's API)."""

    rank: int = 8
    alpha: int = 16
    dropout: float = 0.0
    target_modules: tuple[str, ...] = ()
    """Module names the adapter wraps; empty: the trainer's default for the architecture."""
    max_steps: int | None = None
    """Stop after this many optimizer steps, whatever n_epochs says."""
    checkpoint_every: int = 10
    """Write a checkpoint every this many steps (and always at the end)."""
    base_learning_rate: float = 1e-4
    """The learning rate that learning_rate_multiplier multiplies."""


@dataclass(frozen=True, slots=True)
class FineTuningError:
    """Why a job failed, as OpenAI reports it."""

    code: str
    message: str
    param: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "param": self.param}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FineTuningError:
        return cls(str(data["code"]), str(data["message"]), data.get("param"))


@dataclass(frozen=True, slots=True)
class FineTuningJob:
    """One fine-tuning job. ``job_id`` is the Berth job that runs it."""

    id: str
    model: str
    training_file: str
    created_at: float
    status: FineTuningStatus = FineTuningStatus.VALIDATING_FILES
    validation_file: str | None = None
    hyperparameters: Hyperparameters = field(default_factory=Hyperparameters)
    lora: LoraOptions = field(default_factory=LoraOptions)
    method: str = "supervised"
    seed: int = 0
    suffix: str | None = None
    owner: str | None = None
    job_id: str | None = None
    fine_tuned_model: str | None = None
    trained_tokens: int | None = None
    error: FineTuningError | None = None
    finished_at: float | None = None
    estimated_finish: float | None = None
    metadata: dict[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Change:
    """Fields to set on a job (None: leave as is)."""

    status: FineTuningStatus | None = None
    job_id: str | None = None
    fine_tuned_model: str | None = None
    trained_tokens: int | None = None
    error: FineTuningError | None = None
    finished_at: float | None = None
    estimated_finish: float | None = None


class EventLevel(enum.StrEnum):
    INFO = "info"
    WARN = "warn"
    ERROR = "error"


class EventType(enum.StrEnum):
    MESSAGE = "message"
    METRICS = "metrics"


@dataclass(frozen=True, slots=True)
class FineTuningEvent:
    """One event of a job: a message, or a step's metrics (``data``)."""

    id: str
    job_id: str
    created_at: float
    message: str
    level: EventLevel = EventLevel.INFO
    type: EventType = EventType.MESSAGE
    data: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class FineTuningCheckpoint:
    """A checkpoint the trainer wrote: its step, metrics, folder and the adapter's sha256."""

    id: str
    job_id: str
    created_at: float
    step: int
    metrics: dict[str, float]
    path: str
    sha256: str
    fine_tuned_model_checkpoint: str
