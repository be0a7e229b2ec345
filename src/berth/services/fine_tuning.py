"""Fine-tuning jobs as callers see them (OpenAI's fine-tuning API), and the host the
``fine-tune`` kind runs against.

The rules of a create: the base model is in the catalog, the key may use it, and it is a
causal LM the LoRA trainer supports (a ``chat`` or ``complete`` model on the transformers
runner); the training and validation files exist, belong to the caller, have the purpose
``fine-tune`` and every line is an example of the method (a chat example for ``supervised``,
a preference for ``dpo``; the file, line and field named otherwise), and a trainer is
installed for the method;
all of it before anything is queued. A key sees only its own fine-tuning jobs unless admin.
The finished adapter becomes a catalog model at once, ``ft-<base>-<suffix>-<id tail>``,
pinned to the adapter's sha256, and so does each checkpoint as it is written (that name with
``-step-N``; see :mod:`berth.services.fine_tuned`). As the host of the diffusion ``train``
kind it also serves that kind's adapters (:mod:`berth.services.trained_images`).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Protocol

from berth import errors
from berth.clock import Clock, SystemClock
from berth.files.file import Purpose
from berth.ids import new_id
from berth.jobs.job import Job
from berth.keys.key import ApiKey
from berth.models.spec import ModelSpec
from berth.pool import device as devices
from berth.services.files import FileService
from berth.services.fine_tuned import (
    BasePaths,
    FineTunedModels,
    ModelCatalog,
    checkpoint_name,
    fine_tuned_name,
)
from berth.services.jobs import JobService, only_owner
from berth.services.keys import KeyService
from berth.services.trained_images import TrainedImageModels
from berth.tasks.task import Task
from berth.training.checkpoints import SavedCheckpoint
from berth.training.examples import read_examples
from berth.training.preferences import read_preferences
from berth.training.record import (
    CHECKPOINT_PREFIX,
    EVENT_PREFIX,
    FINE_TUNING_JOB_PREFIX,
    Change,
    EventLevel,
    EventType,
    FineTuningCheckpoint,
    FineTuningError,
    FineTuningEvent,
    FineTuningJob,
    FineTuningStatus,
    Hyperparameters,
    LoraOptions,
)
from berth.training.store import FineTuningStore
from berth.training.trainer import TrainerType

Status = FineTuningStatus
KIND = "fine-tune"
TRAINABLE_TASKS = frozenset({Task.CHAT, Task.COMPLETE})
TRAINABLE_RUNNERS = frozenset({"transformers"})
SUFFIX = re.compile(r"^[a-z0-9][a-z0-9-]{0,17}$")
UNFINISHED = frozenset(
    {Status.VALIDATING_FILES, Status.QUEUED, Status.RUNNING, Status.PAUSING, Status.PAUSED}
)
MAX_ATTEMPTS = 3
MAX_LIST = 100


class MemoryReserver(Protocol):
    def reserve(
        self, holder: str, device: str, nbytes: int
    ) -> contextlib.AbstractAsyncContextManager[None]: ...


class FineTuningService:
    """The rules of fine-tuning jobs (see the module doc), and the kind's host."""

    def __init__(
        self,
        store: FineTuningStore,
        files: FileService,
        jobs: JobService,
        catalog: ModelCatalog,
        cache: BasePaths,
        memory: MemoryReserver,
        trainers: Callable[[str], TrainerType],
        *,
        outputs_dir: Path,
        clock: Clock | None = None,
    ) -> None:
        self.store = store
        self.files = files
        self.jobs = jobs
        self.catalog = catalog
        self.cache = cache
        self.published = FineTunedModels(catalog, cache)
        self.image_models = TrainedImageModels(self.published, jobs)
        """The diffusion LoRAs ``train`` jobs made, as catalog models."""
        self.memory = memory
        self.trainer = trainers
        """The installed trainer for a method (raises InvalidRequest if none does it)."""
        self.outputs_dir = outputs_dir
        self._clock = clock or SystemClock()

    # -- create ----------------------------------------------------------------------------

    async def create(
        self,
        caller: ApiKey | None,
        *,
        model: str,
        training_file: str,
        validation_file: str | None = None,
        hyperparameters: Hyperparameters | None = None,
        lora: LoraOptions | None = None,
        method: str = "supervised",
        seed: int | None = None,
        suffix: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> FineTuningJob:
        """Check everything, record the fine-tuning job and queue its run."""
        self._check_model(caller, model)
        self.trainer(method)
        if suffix is not None and not SUFFIX.match(suffix):
            raise errors.InvalidRequest(
                f"suffix: '{suffix}' must be 1 to 18 lowercase letters, digits or dashes."
            )
        await self._check_file(caller, training_file, "training_file", method)
        if validation_file is not None:
            await self._check_file(caller, validation_file, "validation_file", method)
        tune = FineTuningJob(
            id=new_id(FINE_TUNING_JOB_PREFIX),
            model=model,
            training_file=training_file,
            validation_file=validation_file,
            created_at=self._clock.now(),
            status=Status.QUEUED,
            hyperparameters=hyperparameters or Hyperparameters(),
            lora=lora or LoraOptions(),
            method=method,
            seed=seed if seed is not None else int(self._clock.now()) % 2**31,
            suffix=suffix,
            owner=caller.id if caller is not None else None,
            metadata=metadata,
        )
        await self.store.add(tune)
        await self.event(tune.id, "Validated the training files; the job is queued.")
        return await self._queue(caller, tune)

    async def _queue(self, caller: ApiKey | None, tune: FineTuningJob) -> FineTuningJob:
        submitted = await self.jobs.submit(
            caller,
            KIND,
            {"fine_tuning_job_id": tune.id},
            model=tune.model,
            max_attempts=MAX_ATTEMPTS,
        )
        return await self.store.update(tune.id, Change(job_id=submitted.job.id))

    def _check_model(self, caller: ApiKey | None, alias: str) -> ModelSpec:
        try:
            spec = self.catalog.get(alias)
        except errors.UnknownModel as exc:
            raise errors.InvalidRequest(f"model: {exc.message}") from None
        KeyService.check_model(caller, alias)
        if spec.task not in TRAINABLE_TASKS or spec.runner not in TRAINABLE_RUNNERS:
            raise errors.InvalidRequest(
                f"model: '{alias}' is a {spec.task.value} model on the {spec.runner} runner; "
                "Berth fine-tunes causal LMs (chat or complete models on the transformers "
                "runner). Pick one of those as the base."
            )
        return spec

    async def _check_file(
        self, caller: ApiKey | None, file_id: str, field: str, method: str
    ) -> None:
        try:
            stored, path = await self.files.content(caller, file_id)
        except errors.UnknownFile:
            raise errors.InvalidRequest(
                f"{field}: no file has the id '{file_id}'. Upload it with POST /v1/files "
                "(purpose fine-tune) first."
            ) from None
        if stored.purpose is not Purpose.FINE_TUNE:
            raise errors.InvalidRequest(
                f"{field}: file '{file_id}' has the purpose '{stored.purpose.value}'; upload "
                "it with the purpose 'fine-tune'."
            )
        read = read_preferences if method == "dpo" else read_examples
        await asyncio.to_thread(read, path, field)

    # -- look up ---------------------------------------------------------------------------

    async def get(self, caller: ApiKey | None, tune_id: str) -> FineTuningJob:
        """The fine-tuning job; 404 also for another key's job."""
        tune = await self.store.get(tune_id)
        owner = only_owner(caller)
        if owner is not None and tune.owner != owner:
            raise errors.UnknownFineTuningJob(f"No fine-tuning job has the id '{tune_id}'.")
        return tune

    async def list_jobs(
        self, caller: ApiKey | None, *, after: str | None = None, limit: int = 20
    ) -> list[FineTuningJob]:
        """The caller's fine-tuning jobs, newest first; ``after`` is the last id seen."""
        _check_limit(limit)
        return await self.store.list_jobs(owner=only_owner(caller), after=after, limit=limit)

    async def events(
        self, caller: ApiKey | None, tune_id: str, *, after: str | None = None, limit: int = 20
    ) -> list[FineTuningEvent]:
        _check_limit(limit)
        await self.get(caller, tune_id)
        return await self.store.list_events(tune_id, after=after, limit=limit)

    async def checkpoints(
        self, caller: ApiKey | None, tune_id: str, *, after: str | None = None, limit: int = 10
    ) -> list[FineTuningCheckpoint]:
        _check_limit(limit)
        await self.get(caller, tune_id)
        return await self.store.list_checkpoints(tune_id, after=after, limit=limit)

    # -- cancel, pause, resume --------------------------------------------------------------

    async def cancel(self, caller: ApiKey | None, tune_id: str) -> FineTuningJob:
        """Stop the run at its next step (its last checkpoint stays) and end the job."""
        await self.get(caller, tune_id)
        tune = await self.store.update(
            tune_id,
            Change(status=Status.CANCELLED, finished_at=self._clock.now()),
            only_from=UNFINISHED,
        )
        await self._stop_run(tune)
        await self.event(tune_id, "The job was cancelled.")
        return tune

    async def pause(self, caller: ApiKey | None, tune_id: str) -> FineTuningJob:
        """Stop the run at its next step, keeping its checkpoints; resume goes on from them."""
        current = await self.get(caller, tune_id)
        running = current.status is Status.RUNNING
        status = Status.PAUSING if running else Status.PAUSED
        tune = await self.store.update(
            tune_id, Change(status=status), only_from=frozenset({Status.QUEUED, Status.RUNNING})
        )
        await self._stop_run(tune)
        await self.event(tune_id, "The job was paused." if not running else "Pausing the job.")
        return tune

    async def resume(self, caller: ApiKey | None, tune_id: str) -> FineTuningJob:
        """Queue a paused job's run again; it goes on from its last checkpoint."""
        await self.get(caller, tune_id)
        tune = await self.store.update(
            tune_id, Change(status=Status.QUEUED), only_from=frozenset({Status.PAUSED})
        )
        await self.event(tune_id, "The job was resumed.")
        return await self._queue(caller, tune)

    async def _stop_run(self, tune: FineTuningJob) -> None:
        if tune.job_id is not None:
            with contextlib.suppress(errors.UnknownJob):
                await self.jobs.cancel(None, tune.job_id)

    async def publish_finished(self) -> int:
        """Put every job's checkpoints and every succeeded job's adapter in the catalog (at
        start-up); return how many models that added."""
        published, after = 0, None
        while page := await self.store.list_jobs(after=after, limit=MAX_LIST):
            for tune in page:
                published += await self._publish_job(tune)
            after = page[-1].id
        return published

    async def _publish_job(self, tune: FineTuningJob) -> int:
        published, after, newest = 0, None, None
        while page := await self.store.list_checkpoints(tune.id, after=after, limit=MAX_LIST):
            newest = newest or page[0]
            for checkpoint in page:
                with contextlib.suppress(errors.BerthError):
                    self.published.publish_checkpoint(tune, checkpoint)
                    published += 1
            after = page[-1].id
        if tune.status is Status.SUCCEEDED and tune.fine_tuned_model and newest is not None:
            path, sha256 = Path(newest.path), newest.sha256
            with contextlib.suppress(errors.BerthError):
                self.published.publish(tune, tune.fine_tuned_model, path, sha256, newest.step)
                published += 1
        return published

    async def serve_checkpoint(
        self, caller: ApiKey | None, tune_id: str, checkpoint_id: str
    ) -> FineTuningCheckpoint:
        """Make a checkpoint's model servable now (added to the catalog if it is not there
        yet): ``fine_tuned_model_checkpoint`` then answers in chat and completions."""
        tune = await self.get(caller, tune_id)
        checkpoint = await self._find_checkpoint(tune_id, checkpoint_id)
        KeyService.check_model(caller, tune.model)
        await asyncio.to_thread(self.published.publish_checkpoint, tune, checkpoint)
        return checkpoint

    async def _find_checkpoint(self, tune_id: str, checkpoint_id: str) -> FineTuningCheckpoint:
        after = None
        while page := await self.store.list_checkpoints(tune_id, after=after, limit=MAX_LIST):
            found = next((c for c in page if c.id == checkpoint_id), None)
            if found is not None:
                return found
            after = page[-1].id
        raise errors.NotFound(
            f"Fine-tuning job '{tune_id}' has no checkpoint with the id '{checkpoint_id}'. "
            f"List them with GET /v1/fine_tuning/jobs/{tune_id}/checkpoints."
        )

    # -- the host of the fine-tune kind ----------------------------------------------------

    async def begin(self, tune_id: str, job_id: str) -> FineTuningJob:
        try:
            tune = await self.store.update(
                tune_id,
                Change(status=Status.RUNNING, job_id=job_id),
                only_from=frozenset({Status.QUEUED, Status.RUNNING}),
            )
        except errors.FineTuningStateError as exc:
            raise errors.JobCancelled(f"Not training: {exc.message}") from None
        await self.event(tune_id, "Fine-tuning job started.")
        return tune

    def folder(self, tune_id: str) -> Path:
        return self.outputs_dir / "fine_tuning" / tune_id

    def base_path(self, alias: str) -> Path:
        directory = self.cache.path_for(self.catalog.get(alias))
        if directory is None:
            raise errors.ModelNotCached(f"Model '{alias}' has no files to fine-tune.")
        return directory

    def device(self, alias: str) -> str:
        return devices.resolve(self.catalog.get(alias).options.device)

    @contextlib.asynccontextmanager
    async def reserve(self, tune_id: str, alias: str, nbytes: int) -> AsyncIterator[None]:
        device = self.device(alias)
        async with self.memory.reserve(f"fine-tune {tune_id}", device, nbytes):
            yield

    async def event(
        self,
        tune_id: str,
        message: str,
        *,
        level: EventLevel = EventLevel.INFO,
        metrics: dict[str, float] | None = None,
    ) -> None:
        kind = EventType.METRICS if metrics is not None else EventType.MESSAGE
        made = FineTuningEvent(
            new_id(EVENT_PREFIX), tune_id, self._clock.now(), message, level, kind, metrics
        )
        await self.store.add_event(made)

    async def checkpoint(self, tune_id: str, saved: SavedCheckpoint) -> None:
        tune = await self.store.get(tune_id)
        name = checkpoint_name(tune, saved.step)
        record = FineTuningCheckpoint(
            id=new_id(CHECKPOINT_PREFIX),
            job_id=tune_id,
            created_at=self._clock.now(),
            step=saved.step,
            metrics=saved.metrics,
            path=str(saved.path),
            sha256=saved.adapter_sha256,
            fine_tuned_model_checkpoint=name,
        )
        await self.store.add_checkpoint(record)
        with contextlib.suppress(errors.BerthError):
            await asyncio.to_thread(self.published.publish_checkpoint, tune, record)

    async def succeed(self, tune_id: str, adapter: SavedCheckpoint, trained_tokens: int) -> str:
        tune = await self.store.get(tune_id)
        name = fine_tuned_name(tune)
        done = await self.store.update(
            tune_id,
            Change(
                status=Status.SUCCEEDED,
                fine_tuned_model=name,
                trained_tokens=trained_tokens,
                finished_at=self._clock.now(),
            ),
            only_from=frozenset({Status.RUNNING}),
        )
        with contextlib.suppress(errors.BerthError):
            await asyncio.to_thread(
                self.published.publish,
                done,
                name,
                adapter.path,
                adapter.adapter_sha256,
                adapter.step,
            )
        await self.event(tune_id, f"The job has successfully completed: model {name}.")
        return name

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
        return self.image_models.serve(job, job_name, folder, sha256, step, checkpoint=checkpoint)

    async def stopped(self, tune_id: str) -> None:
        with contextlib.suppress(errors.FineTuningStateError):
            await self.store.update(
                tune_id, Change(status=Status.PAUSED), only_from=frozenset({Status.PAUSING})
            )
            await self.event(tune_id, "The job was paused; resume goes on from its checkpoint.")

    async def fail(self, tune_id: str, code: str, message: str, *, final: bool) -> None:
        if not final:
            await self.event(tune_id, f"Attempt failed, retrying: {message}", level=EventLevel.WARN)
            return
        with contextlib.suppress(errors.FineTuningStateError):
            await self.store.update(
                tune_id,
                Change(
                    status=Status.FAILED,
                    error=FineTuningError(code, message),
                    finished_at=self._clock.now(),
                ),
                only_from=UNFINISHED,
            )
        await self.event(tune_id, f"The job failed: {message}", level=EventLevel.ERROR)


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_LIST + 1:
        raise errors.InvalidRequest(f"limit: must be between 1 and {MAX_LIST}, not {limit}.")
