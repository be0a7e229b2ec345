"""What a running job sees: its record, its folder, progress reporting and the stop signal."""

from __future__ import annotations

import asyncio
import logging
import mimetypes
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Protocol

from berth import errors
from berth.agents.host import AgentHost
from berth.evals.store import EvalStore
from berth.files.file import StoredFile
from berth.jobs.job import Artifact, Job
from berth.jobs.outputs import make_job_dir
from berth.jobs.paths import DataRoots
from berth.models.manifest import Manifest
from berth.models.pull import ProgressSink as PullProgressSink
from berth.tasks.calls import ModelCalls
from berth.training.host import TrainingHost
from berth.vectors.writer import VectorWriter

log = logging.getLogger("berth.job")

ProgressSink = Callable[[float | None, str | None], Awaitable[None]]


class ModelPuller(Protocol):
    """What a job may ask of the model cache: a model downloaded and verified."""

    def pull(self, alias: str, on_progress: PullProgressSink | None = None) -> Manifest:
        """Download, verify and record ``alias``'s files (blocks: run it in a thread)."""
        ...


class FileReader(Protocol):
    """What a job may ask of the uploaded files: one by id (its submit checked the caller)."""

    async def local(self, file_id: str) -> tuple[StoredFile, Path]:
        """The file's record and where its bytes are; raises UnknownFile."""
        ...


ArtifactSink = Callable[[Artifact], Awaitable[None]]


class JobContext:
    """Handed to a job kind's ``run``. Long jobs should call :meth:`check_cancelled` (or use
    :meth:`sleep`) often: a cancelled or timed-out job that does not stop within the grace
    period is stopped hard."""

    def __init__(
        self,
        job: Job,
        output_dir: Path,
        home: Path,
        on_progress: ProgressSink,
        on_artifact: ArtifactSink,
        models: ModelCalls | None = None,
        *,
        roots: DataRoots | None = None,
        pulls: ModelPuller | None = None,
        files: FileReader | None = None,
        evals: EvalStore | None = None,
        vectors: VectorWriter | None = None,
        training: TrainingHost | None = None,
        agents: AgentHost | None = None,
    ) -> None:
        self.job = job
        self.roots = roots or DataRoots(home)
        """The folders this job's input may name files in (BERTH_HOME, BERTH_DATA_DIRS)."""
        self._models = models
        self._pulls = pulls
        self._files = files
        self._evals = evals
        self._vectors = vectors
        self.training = training
        """The fine-tuning service, for the ``fine-tune`` kind (None where there is none)."""
        self.agents = agents
        """The tools and step store, for the ``agent`` kind (None where there are none)."""
        self._output_dir = output_dir
        self._output_ready = False
        self.home = home
        self._on_progress = on_progress
        self._on_artifact = on_artifact
        self._stop = asyncio.Event()
        self.stop_reason: str | None = None
        self.log = logging.LoggerAdapter(log, {"job": job.id, "kind": job.kind})

    @property
    def output_dir(self) -> Path:
        """The job's folder for artifacts, created on first use."""
        if not self._output_ready:
            make_job_dir(self._output_dir)
            self._output_ready = True
        return self._output_dir

    @property
    def models(self) -> ModelCalls:
        """The models, by alias and task (calls go after online requests); raises if this
        dispatcher runs without a model pool."""
        if self._models is None:
            raise errors.BerthError(
                f"Job kind '{self.job.kind}' needs models, but this dispatcher has no model pool."
            )
        return self._models

    @property
    def pulls(self) -> ModelPuller:
        """The model cache; raises if this dispatcher was given none."""
        if self._pulls is None:
            raise errors.BerthError(
                f"Job kind '{self.job.kind}' pulls models, but this dispatcher has no model cache."
            )
        return self._pulls

    @property
    def files(self) -> FileReader:
        """The uploaded files; raises if this dispatcher was given none."""
        if self._files is None:
            raise errors.BerthError(
                f"Job kind '{self.job.kind}' reads uploaded files, but this dispatcher has none."
            )
        return self._files

    @property
    def evals(self) -> EvalStore:
        """The eval store (an ``eval`` job records its samples there); raises if this
        dispatcher was given none."""
        if self._evals is None:
            raise errors.BerthError(
                f"Job kind '{self.job.kind}' records eval results, but this dispatcher has no "
                "eval store."
            )
        return self._evals

    @property
    def vectors(self) -> VectorWriter:
        """The vector stores (for ingestion); raises if this dispatcher was given none."""
        if self._vectors is None:
            raise errors.BerthError(
                f"Job kind '{self.job.kind}' writes vector stores, but this dispatcher has none."
            )
        return self._vectors

    @property
    def cancelled(self) -> bool:
        """True once the job has been asked to stop (cancel, timeout, shutdown)."""
        return self._stop.is_set()

    def request_stop(self, reason: str) -> None:
        """Ask the job to stop; called by the dispatcher."""
        if not self._stop.is_set():
            self.stop_reason = reason
            self._stop.set()

    def check_cancelled(self) -> None:
        """Raise JobCancelled if the job has been asked to stop."""
        if self._stop.is_set():
            raise errors.JobCancelled(
                f"Job '{self.job.id}' was asked to stop ({self.stop_reason})."
            )

    async def sleep(self, seconds: float) -> None:
        """Sleep, but wake and raise JobCancelled as soon as the job is asked to stop."""
        try:
            await asyncio.wait_for(self._stop.wait(), seconds)
        except TimeoutError:
            return
        self.check_cancelled()

    async def progress(self, fraction: float | None, message: str | None = None) -> None:
        """Report progress: a fraction in [0, 1] (or None if unknown) and a short message."""
        if fraction is not None and not 0.0 <= fraction <= 1.0:
            raise ValueError(f"progress must be between 0 and 1, not {fraction}")
        await self._on_progress(fraction, message)

    async def add_artifact(self, name: str, media_type: str | None = None) -> Artifact:
        """Record a file the job wrote into :attr:`output_dir` as one of its artifacts."""
        path = (self.output_dir / name).resolve()
        if path.parent != self.output_dir.resolve() or not path.is_file():
            raise ValueError(f"'{name}' is not a file directly inside {self.output_dir}")
        guessed = media_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
        artifact = Artifact(name, guessed, path.stat().st_size)
        await self._on_artifact(artifact)
        return artifact
