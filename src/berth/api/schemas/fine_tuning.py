"""OpenAI-shaped bodies of the fine-tuning API (plus Berth's LoRA options)."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from berth.training.options import FineTuningLora
from berth.training.record import (
    FineTuningCheckpoint,
    FineTuningEvent,
    FineTuningJob,
    Hyperparameters,
)

Auto = Literal["auto"]
DEFAULTS = Hyperparameters()


class FineTuningHyperparameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    n_epochs: int | Auto = Field(default="auto", description="Passes over the training file.")
    batch_size: int | Auto = Field(default="auto", description="Examples per optimizer step.")
    learning_rate_multiplier: float | Auto = Field(
        default="auto", description="Multiplies the base learning rate (lora.learning_rate)."
    )

    def resolved(self) -> Hyperparameters:
        epochs = DEFAULTS.n_epochs if self.n_epochs == "auto" else self.n_epochs
        batch = DEFAULTS.batch_size if self.batch_size == "auto" else self.batch_size
        rate = self.learning_rate_multiplier
        multiplier = DEFAULTS.learning_rate_multiplier if rate == "auto" else float(rate)
        return Hyperparameters(int(epochs), int(batch), multiplier)


class FineTuningDpoHyperparameters(FineTuningHyperparameters):
    beta: Annotated[float, Field(gt=0, le=100)] | Auto = Field(
        default="auto",
        description="How far the adapter may move from the base model (DPO's temperature).",
    )

    def resolved(self) -> Hyperparameters:
        beta = DEFAULTS.beta if self.beta == "auto" else float(self.beta)
        return dataclasses.replace(super().resolved(), beta=beta)


class FineTuningSupervised(BaseModel):
    hyperparameters: FineTuningHyperparameters | None = None


class FineTuningDpo(BaseModel):
    hyperparameters: FineTuningDpoHyperparameters | None = None


class FineTuningMethod(BaseModel):
    type: str = Field(
        max_length=40,
        description="'supervised' (chat examples) or 'dpo' (preference examples); a method "
        "no installed trainer offers is refused.",
    )
    supervised: FineTuningSupervised | None = None
    dpo: FineTuningDpo | None = None


class FineTuningJobCreate(BaseModel):
    """The body of ``POST /v1/fine_tuning/jobs``."""

    model: str = Field(max_length=200, description="The base model: a catalog alias.")
    training_file: str = Field(max_length=40)
    validation_file: str | None = Field(default=None, max_length=40)
    hyperparameters: FineTuningHyperparameters | None = None
    method: FineTuningMethod | None = None
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1)
    suffix: str | None = Field(default=None, max_length=64)
    metadata: dict[str, str] | None = None
    integrations: list[dict[str, Any]] | None = None
    lora: FineTuningLora = Field(
        default_factory=FineTuningLora, description="Berth's LoRA options."
    )

    @property
    def method_type(self) -> str:
        """The fine-tuning method (``supervised`` unless ``method`` says otherwise)."""
        return self.method.type if self.method else "supervised"

    def resolved_hyperparameters(self) -> Hyperparameters:
        method = self.method
        given: FineTuningHyperparameters | None = None
        if method is not None and method.type == "dpo" and method.dpo is not None:
            given = method.dpo.hyperparameters
        elif method is not None and method.supervised is not None:
            given = method.supervised.hyperparameters
        return (given or self.hyperparameters or FineTuningHyperparameters()).resolved()


class FineTuningErrorOut(BaseModel):
    code: str
    message: str
    param: str | None = None


class FineTuningJobObject(BaseModel):
    """One fine-tuning job as OpenAI returns it (plus ``lora`` and Berth's ``job_id``)."""

    id: str
    object: Literal["fine_tuning.job"] = "fine_tuning.job"
    created_at: int
    error: FineTuningErrorOut | None
    fine_tuned_model: str | None
    finished_at: int | None
    hyperparameters: dict[str, Any]
    model: str
    organization_id: str = "berth"
    result_files: list[str] = Field(default_factory=list)
    seed: int
    status: str
    trained_tokens: int | None
    training_file: str
    validation_file: str | None
    estimated_finish: int | None = None
    integrations: list[dict[str, Any]] | None = None
    metadata: dict[str, str] | None = None
    method: dict[str, Any]
    suffix: str | None = None
    lora: dict[str, Any]
    job_id: str | None = None

    @classmethod
    def of(cls, tune: FineTuningJob) -> FineTuningJobObject:
        hyper = {
            "n_epochs": tune.hyperparameters.n_epochs,
            "batch_size": tune.hyperparameters.batch_size,
            "learning_rate_multiplier": tune.hyperparameters.learning_rate_multiplier,
        }
        lora = tune.lora
        return cls(
            id=tune.id,
            created_at=int(tune.created_at),
            error=FineTuningErrorOut(**tune.error.to_json()) if tune.error else None,
            fine_tuned_model=tune.fine_tuned_model,
            finished_at=int(tune.finished_at) if tune.finished_at else None,
            hyperparameters=hyper,
            model=tune.model,
            seed=tune.seed,
            status=tune.status.value,
            trained_tokens=tune.trained_tokens,
            training_file=tune.training_file,
            validation_file=tune.validation_file,
            estimated_finish=int(tune.estimated_finish) if tune.estimated_finish else None,
            metadata=tune.metadata,
            method={"type": tune.method, tune.method: {"hyperparameters": _method_hyper(tune)}},
            suffix=tune.suffix,
            lora={
                "rank": lora.rank,
                "alpha": lora.alpha,
                "dropout": lora.dropout,
                "target_modules": list(lora.target_modules),
                "max_steps": lora.max_steps,
                "checkpoint_every": lora.checkpoint_every,
                "learning_rate": lora.base_learning_rate,
            },
            job_id=tune.job_id,
        )


def _method_hyper(tune: FineTuningJob) -> dict[str, Any]:
    hyper = tune.hyperparameters
    shown: dict[str, Any] = {
        "n_epochs": hyper.n_epochs,
        "batch_size": hyper.batch_size,
        "learning_rate_multiplier": hyper.learning_rate_multiplier,
    }
    if tune.method == "dpo":
        shown["beta"] = hyper.beta
    return shown


class FineTuningEventObject(BaseModel):
    id: str
    object: Literal["fine_tuning.job.event"] = "fine_tuning.job.event"
    created_at: int
    level: str
    message: str
    type: str
    data: dict[str, Any] | None = None

    @classmethod
    def of(cls, event: FineTuningEvent) -> FineTuningEventObject:
        return cls(
            id=event.id,
            created_at=int(event.created_at),
            level=event.level.value,
            message=event.message,
            type=event.type.value,
            data=event.data,
        )


class FineTuningCheckpointObject(BaseModel):
    id: str
    object: Literal["fine_tuning.job.checkpoint"] = "fine_tuning.job.checkpoint"
    created_at: int
    fine_tuned_model_checkpoint: str
    fine_tuning_job_id: str
    metrics: dict[str, float]
    step_number: int
    sha256: str

    @classmethod
    def of(cls, checkpoint: FineTuningCheckpoint) -> FineTuningCheckpointObject:
        return cls(
            id=checkpoint.id,
            created_at=int(checkpoint.created_at),
            fine_tuned_model_checkpoint=checkpoint.fine_tuned_model_checkpoint,
            fine_tuning_job_id=checkpoint.job_id,
            metrics=checkpoint.metrics,
            step_number=checkpoint.step,
            sha256=checkpoint.sha256,
        )


class FineTuningJobList(BaseModel):
    object: Literal["list"] = "list"
    data: list[FineTuningJobObject]
    has_more: bool


class FineTuningEventList(BaseModel):
    object: Literal["list"] = "list"
    data: list[FineTuningEventObject]
    has_more: bool


class FineTuningCheckpointList(BaseModel):
    object: Literal["list"] = "list"
    data: list[FineTuningCheckpointObject]
    first_id: str | None
    last_id: str | None
    has_more: bool
