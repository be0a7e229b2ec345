"""What a running fine-tune job may ask of Berth (the fine-tuning service answers it): its
record, its folder, the base model's files, and where to report steps, checkpoints and the
end; and, for a diffusion ``train`` job, where to serve its adapters."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Protocol

from berth.jobs.job import Job
from berth.training.checkpoints import SavedCheckpoint
from berth.training.record import EventLevel, FineTuningJob
from berth.training.trainer import TrainerType


class TrainingHost(Protocol):
    """The fine-tuning service, as the ``fine-tune`` kind sees it."""

    async def begin(self, tune_id: str, job_id: str) -> FineTuningJob:
        """Mark the fine-tuning job running under Berth job ``job_id``; return it."""
        ...

    def folder(self, tune_id: str) -> Path:
        """The fine-tuning job's own folder (its checkpoints live here across attempts)."""
        ...

    def trainer(self, method: str) -> TrainerType:
        """The installed trainer for a fine-tuning method."""
        ...

    def base_path(self, alias: str) -> Path:
        """Where the base model's files are (raises if they are not cached)."""
        ...

    def device(self, alias: str) -> str:
        """The device a run on base ``alias`` trains on (``cpu`` or ``cuda:N``): the one the
        catalog gives the base (``auto``: the first GPU, if any)."""
        ...

    def reserve(self, tune_id: str, alias: str, nbytes: int) -> AbstractAsyncContextManager[None]:
        """Hold ``nbytes`` of the device's memory budget while training (waits for room)."""
        ...

    async def event(
        self,
        tune_id: str,
        message: str,
        *,
        level: EventLevel = EventLevel.INFO,
        metrics: dict[str, float] | None = None,
    ) -> None:
        """Record an event (with ``metrics``: a ``metrics`` event)."""
        ...

    async def checkpoint(self, tune_id: str, saved: SavedCheckpoint) -> None:
        """Record a checkpoint written to disk."""
        ...

    async def succeed(self, tune_id: str, adapter: SavedCheckpoint, trained_tokens: int) -> str:
        """Publish the adapter as a catalog model, mark the job succeeded, return the model's
        name."""
        ...

    def serve_image_adapter(
        self,
        job: Job,
        job_name: str,
        folder: Path,
        sha256: str,
        step: int,
        *,
        checkpoint: bool = False,
    ) -> str:
        """Add a ``train`` job's diffusion LoRA (``adapter_model.safetensors`` in ``folder``,
        pinned to ``sha256``) to the catalog as a text-to-image model over the job's base:
        its final adapter, or with ``checkpoint`` the one saved at ``step``. Return the
        model's alias (blocking: call it from a worker thread)."""
        ...

    async def stopped(self, tune_id: str) -> None:
        """The run stopped when asked: a pausing job becomes paused."""
        ...

    async def fail(self, tune_id: str, code: str, message: str, *, final: bool) -> None:
        """The run failed; ``final``: no attempt is left, the job is failed for good."""
        ...
