"""``fine-tune``: one fine-tuning job's run, as a durable Berth job.

The run resumes from the newest complete checkpoint in the fine-tuning job's folder (after a
crash, a retry, or a pause then resume), reports each step's metrics as a ``metrics`` event,
writes a checkpoint every ``checkpoint_every`` steps and at the end, and publishes the final
adapter as a catalog model. Trainers are plugins: a ``Trainer`` registered under a method name
(``supervised``, ``dpo``) is what the kind runs.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from berth import errors
from berth.hookspecs import Registry
from berth.jobs.context import JobContext
from berth.jobs.kind import JobKind
from berth.training.checkpoints import CheckpointStore, SavedCheckpoint
from berth.training.examples import read_examples
from berth.training.host import TrainingHost
from berth.training.lora import StepMetrics, TrainingPlan
from berth.training.preferences import read_preferences
from berth.training.record import FineTuningJob
from berth.training.thread import TrainingThread
from berth.training.trainer import Trainer

REPORT_SECONDS = 1.0
"""Each step's metrics event is written; they go to the store together at most this often
(and at each checkpoint), in one transaction, while the next steps train, so reporting costs
the run almost nothing."""
TRAINING_MEMORY_FACTOR = 4
"""A LoRA run holds about this many times the base model's weights (weights, activations,
gradients and optimizer state of the adapter)."""


class FineTuneInput(BaseModel):
    """Input of the ``fine-tune`` kind: which fine-tuning job to run."""

    model_config = ConfigDict(extra="forbid")

    fine_tuning_job_id: str = Field(pattern=r"^ftjob-[0-9a-z]{26}$")


def host_of(ctx: JobContext) -> TrainingHost:
    if ctx.training is None:
        raise errors.BerthError(
            f"Job kind '{ctx.job.kind}' trains models, but this dispatcher has no training host."
        )
    return ctx.training


async def run_fine_tune(ctx: JobContext, params: FineTuneInput) -> dict[str, Any]:
    """Train (or go on training) one fine-tuning job and publish its adapter."""
    host, tune_id = host_of(ctx), params.fine_tuning_job_id
    tune = await host.begin(tune_id, ctx.job.id)
    try:
        return await _train(ctx, host, tune)
    except errors.JobCancelled:
        await host.stopped(tune_id)
        raise
    except Exception as exc:
        final = ctx.job.attempts >= ctx.job.max_attempts
        code = "invalid_training_file" if isinstance(exc, errors.InvalidTrainingData) else "error"
        await host.fail(tune_id, code, str(exc) or type(exc).__name__, final=final)
        raise


async def _plan(ctx: JobContext, host: TrainingHost, tune: FineTuningJob) -> TrainingPlan:
    dpo = tune.method == "dpo"
    read: Callable[[Path, str], list[Any]] = read_preferences if dpo else read_examples
    _, training_path = await ctx.files.local(tune.training_file)
    training: list[Any] = await asyncio.to_thread(read, training_path, "training_file")
    validation: list[Any] = []
    if tune.validation_file:
        _, validation_path = await ctx.files.local(tune.validation_file)
        validation = await asyncio.to_thread(read, validation_path, "validation_file")
    return TrainingPlan(
        base=host.base_path(tune.model),
        training=[] if dpo else training,
        validation=[] if dpo else validation,
        preferences=training if dpo else [],
        validation_preferences=validation if dpo else [],
        hyperparameters=tune.hyperparameters,
        lora=tune.lora,
        seed=tune.seed,
        device=host.device(tune.model),
    )


async def _train(ctx: JobContext, host: TrainingHost, tune: FineTuningJob) -> dict[str, Any]:
    plan = await _plan(ctx, host, tune)
    weights = sum(p.stat().st_size for p in plan.base.glob("*.safetensors"))
    reserved = host.reserve(tune.id, tune.model, weights * TRAINING_MEMORY_FACTOR)
    async with reserved, TrainingThread(f"train-{tune.id[-8:]}") as thread:
        trainer = await thread.run(host.trainer(tune.method).create, plan)
        store = CheckpointStore(host.folder(tune.id) / "checkpoints")
        await asyncio.to_thread(store.clear_temporary)
        latest = await asyncio.to_thread(store.latest)
        if latest is not None:
            await thread.run(trainer.restore, latest.path)
            await host.event(tune.id, f"Resumed from the checkpoint at step {latest.step}.")
        else:
            await host.event(tune.id, f"Training started: {trainer.total_steps} steps.")
        final = await _steps(ctx, host, tune, _Run(trainer, store, thread), latest)
    model = await host.succeed(tune.id, final, trainer.trained_tokens)
    return {"fine_tuned_model": model, "steps": trainer.step, "checkpoint": str(final.path)}


class _Reports:
    """The run's metrics events and progress, written while the next steps train: one write
    in flight at a time, at most every :data:`REPORT_SECONDS`, and everything written before
    a checkpoint is recorded and when the run stops."""

    def __init__(self, ctx: JobContext, host: TrainingHost, tune_id: str) -> None:
        self._ctx, self._host, self._tune_id = ctx, host, tune_id
        self._pending: list[Coroutine[Any, Any, None]] = []
        self._writing: asyncio.Task[None] | None = None
        self._flushed = time.monotonic()

    def add(self, metrics: StepMetrics, valid: float | None) -> dict[str, float]:
        numbers = _numbers(metrics, valid)
        event = self._host.event(self._tune_id, _describe(metrics, valid), metrics=numbers)
        self._pending.append(event)
        return numbers

    async def send(self, metrics: StepMetrics) -> None:
        """Start writing what is buffered, when the last write is a second old."""
        if time.monotonic() - self._flushed <= REPORT_SECONDS:
            return
        await self._wait()
        batch, self._pending = self._pending, []
        fraction, message = metrics.step / metrics.total_steps, f"step {metrics.step}"
        self._writing = asyncio.create_task(self._write(batch, fraction, message))
        self._flushed = time.monotonic()

    async def drain(self) -> None:
        """Write everything buffered, and wait for it."""
        await self._wait()
        batch, self._pending = self._pending, []
        await asyncio.gather(*batch)

    async def _wait(self) -> None:
        writing, self._writing = self._writing, None
        if writing is not None:
            await writing

    async def _write(
        self, batch: list[Coroutine[Any, Any, None]], fraction: float, message: str
    ) -> None:
        await asyncio.gather(*batch)
        await self._ctx.progress(fraction, message)


@dataclass(frozen=True)
class _Run:
    """What a run trains with: its trainer, where its checkpoints go, the thread it steps on."""

    trainer: Trainer
    store: CheckpointStore
    thread: TrainingThread

    async def save(self, numbers: dict[str, float]) -> SavedCheckpoint:
        return await self.thread.run(self.store.save, self.trainer.step, self.trainer.save, numbers)


async def _steps(
    ctx: JobContext,
    host: TrainingHost,
    tune: FineTuningJob,
    run: _Run,
    latest: SavedCheckpoint | None,
) -> SavedCheckpoint:
    every, trainer = max(1, tune.lora.checkpoint_every), run.trainer
    reports = _Reports(ctx, host, tune.id)
    try:
        while not trainer.done:
            ctx.check_cancelled()
            metrics = await run.thread.run(trainer.train_step)
            due = metrics.step % every == 0 or trainer.done
            valid = await run.thread.run(trainer.validation_loss) if due else None
            numbers = reports.add(metrics, valid)
            if not due:
                await reports.send(metrics)
                continue
            await reports.drain()
            await ctx.progress(metrics.step / metrics.total_steps, f"step {metrics.step}")
            latest = await run.save(numbers)
            await host.checkpoint(tune.id, latest)
    finally:
        await reports.drain()
    if latest is None or latest.step != trainer.step:
        latest = await run.save({})
        await host.checkpoint(tune.id, latest)
    return latest


def _numbers(metrics: StepMetrics, valid: float | None) -> dict[str, float]:
    numbers = {
        "step": float(metrics.step),
        "total_steps": float(metrics.total_steps),
        "train_loss": metrics.train_loss,
        "learning_rate": metrics.learning_rate,
        "tokens_per_second": metrics.tokens_per_second,
    }
    numbers.update(metrics.extra)
    if valid is not None:
        numbers["valid_loss"] = valid
    return numbers


def _describe(metrics: StepMetrics, valid: float | None) -> str:
    text = f"Step {metrics.step}/{metrics.total_steps}: training loss={metrics.train_loss:.4f}"
    return text + (f", validation loss={valid:.4f}" if valid is not None else "")


def register(registry: Registry) -> None:
    """Register the ``fine-tune`` kind."""
    registry.add_kind(
        JobKind(
            "fine-tune",
            run_fine_tune,
            "Runs one fine-tuning job (LoRA on a causal LM), resuming from its last checkpoint.",
            input_model=FineTuneInput,
            concurrency=1,
        )
    )
