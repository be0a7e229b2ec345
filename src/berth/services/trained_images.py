"""Diffusion LoRAs that ``train`` jobs made, served as text-to-image catalog models.

A succeeded job's adapter (``adapter_model.safetensors`` in its folder) is
``ft-<base>-<job name>-<id tail>``, and each of its checkpoints that name with ``-step-N``:
the base's pipeline files with the adapter folder in the diffusers runner's options, pinned to
the adapter's sha256 (the job's result for the final one, the checkpoint's manifest for the
others), so a changed or missing adapter never serves. The ``train`` kind adds them as it
saves and finishes; at start-up every succeeded ``train`` job's are added again.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Protocol

from berth import errors
from berth.jobs.job import Job, JobStatus
from berth.keys.key import ApiKey
from berth.services.fine_tuned import Adapter, FineTunedModels, served_alias
from berth.training.checkpoints import CheckpointStore

KIND = "train"
CHECKPOINTS = "checkpoints"
PAGE = 100


class TrainJobs(Protocol):
    """The job service as this needs it: the ``train`` jobs and their folders."""

    async def list_jobs(
        self,
        caller: ApiKey | None,
        *,
        statuses: frozenset[JobStatus] = frozenset(),
        kind: str | None = None,
        model: str | None = None,
        before: str | None = None,
        limit: int = 50,
    ) -> list[Job]: ...

    def folder(self, job: Job) -> Path: ...


def trained_name(base: str, job_name: str, job_id: str) -> str:
    """The catalog alias of a ``train`` job's final adapter."""
    return served_alias(["ft", base, job_name.lower(), job_id[-8:]]) or job_id[-8:]


def checkpoint_alias(name: str, step: int) -> str:
    """The catalog alias of the checkpoint at ``step`` of the job whose model is ``name``."""
    return served_alias([name, "step", str(step)])


class TrainedImageModels:
    """Puts ``train`` jobs' adapters into the catalog, each over its base's pipeline files."""

    def __init__(self, models: FineTunedModels, jobs: TrainJobs) -> None:
        self.models = models
        self.jobs = jobs

    def serve(
        self,
        job: Job,
        job_name: str,
        folder: Path,
        sha256: str,
        step: int,
        *,
        checkpoint: bool = False,
    ) -> str:
        """Add (or replace) the model of the adapter in ``folder``: the job's final one, or
        with ``checkpoint`` the one saved at ``step``; return its alias."""
        if job.model is None:
            raise errors.InvalidJobInput(f"Job '{job.id}' names no base model to serve over.")
        alias = trained_name(job.model, job_name, job.id)
        if checkpoint:
            alias = checkpoint_alias(alias, step)
        adapter = Adapter(job.model, alias, folder, sha256, job.id, step)
        self.models.add(adapter, f"train job {job.id}")
        return alias

    async def publish_finished(self) -> int:
        """Add every succeeded ``train`` job's adapter and checkpoints (at start-up); return
        how many models that added. A job whose files or base are gone is skipped."""
        published, before = 0, None
        succeeded = frozenset({JobStatus.SUCCEEDED})
        while page := await self.jobs.list_jobs(
            None, statuses=succeeded, kind=KIND, before=before, limit=PAGE
        ):
            for job in page:
                published += await asyncio.to_thread(self._publish_job, job)
            before = page[-1].id
        return published

    def _publish_job(self, job: Job) -> int:
        result = job.result if isinstance(job.result, dict) else {}
        job_name, sha256 = result.get("job_name"), result.get("adapter_sha256")
        if not isinstance(job_name, str) or not isinstance(sha256, str):
            return 0
        folder = self.jobs.folder(job)
        published = 0
        store = CheckpointStore(folder / CHECKPOINTS)
        for path in store.saved():
            if (saved := store.read(path)) is not None:
                with contextlib.suppress(errors.BerthError):
                    self.serve(
                        job, job_name, saved.path, saved.adapter_sha256, saved.step,
                        checkpoint=True,
                    )  # fmt: skip
                    published += 1
        steps = result.get("steps")
        with contextlib.suppress(errors.BerthError):
            self.serve(job, job_name, folder, sha256, steps if isinstance(steps, int) else 0)
            published += 1
        return published
