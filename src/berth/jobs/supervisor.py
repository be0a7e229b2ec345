"""Runs one claimed job: validates its input, enforces timeout and stop grace, records the end.

Outcomes, and what the store is told:

- the kind returns -> ``succeed``
- it raises -> ``fail``, retried with exponential backoff while attempts remain
  (invalid input is never retried)
- it ran past its timeout -> asked to stop, stopped hard after the grace; ``fail`` (JobTimeout)
- it was cancelled -> asked to stop, stopped hard after the grace; ``mark_cancelled``
- the dispatcher shuts down -> asked to stop; ``release`` (back to the queue, attempt not counted)
- the lease was lost -> stopped at once; nothing is written (another worker owns the job now)
"""

from __future__ import annotations

import asyncio
import logging
import random
import traceback
from collections.abc import Awaitable
from typing import Any

from berth import errors, metrics, tracing
from berth.agents.host import AgentHost
from berth.clock import Clock
from berth.evals.store import EvalStore
from berth.jobs.config import DispatcherConfig
from berth.jobs.context import FileReader, JobContext, ModelPuller
from berth.jobs.job import Artifact, ErrorInfo, Job, JobStatus, JsonValue
from berth.jobs.kind import JobKind
from berth.jobs.outputs import ProvenanceWriter, job_dir, provenance
from berth.jobs.paths import DataRoots
from berth.jobs.store import JobStore
from berth.tasks.calls import ModelCalls
from berth.training.host import TrainingHost
from berth.vectors.writer import VectorWriter

PERMANENT = (
    errors.InvalidJobInput, errors.InvalidRequest, errors.UnknownModel, errors.AccessError,
    errors.GoldenDrift,
)  # fmt: skip
"""Failures no retry can mend: the input, the model it names, or the caller's rights."""
log = logging.getLogger("berth.jobs")


def backoff(attempt: int, base: float, cap: float) -> float:
    """Seconds to wait before retrying after ``attempt`` failed: doubling, capped, +-10%."""
    delay = min(cap, base * 2.0 ** max(0, attempt - 1))
    return delay * random.uniform(0.9, 1.1)


def _only_cancels(exc: BaseException) -> bool:
    """Whether ``exc`` is the job's cancel seen by its kind: ``JobCancelled``, or a task
    group's group of nothing else (a kind running its work in a TaskGroup)."""
    if isinstance(exc, BaseExceptionGroup):
        return all(_only_cancels(inner) for inner in exc.exceptions)
    return isinstance(exc, errors.JobCancelled)


class Supervisor:
    """One job's run, from claim to the store call that ends the attempt."""

    def __init__(
        self,
        job: Job,
        kind: JobKind[Any],
        store: JobStore,
        worker_id: str,
        config: DispatcherConfig,
        package_versions: dict[str, str],
        clock: Clock,
        provenance_writer: ProvenanceWriter,
        models: ModelCalls | None = None,
        pulls: ModelPuller | None = None,
        files: FileReader | None = None,
        evals: EvalStore | None = None,
        vectors: VectorWriter | None = None,
        training: TrainingHost | None = None,
        agents: AgentHost | None = None,
    ) -> None:
        self._provenance = provenance_writer
        self.job = job
        self.lease = job.lease
        self.kind = kind
        self.store = store
        self.worker_id = worker_id
        self.config = config
        self.task: asyncio.Task[None] | None = None
        self._versions = package_versions
        self._clock = clock
        self._folder = job_dir(config.outputs_dir, job)
        self.context = JobContext(
            job,
            self._folder,
            config.home,
            self._progress,
            self._artifact,
            models,
            roots=DataRoots(config.home, config.data_dirs),
            pulls=pulls,
            files=files,
            evals=evals,
            vectors=vectors,
            training=training,
            agents=agents,
        )
        self._inner: asyncio.Task[JsonValue] | None = None
        self._hard_stop: asyncio.TimerHandle | None = None

    def request_stop(self, reason: str, grace: float) -> None:
        """Signal the job to stop for ``reason``; stop it hard after ``grace`` seconds."""
        if self.context.stop_reason is None:
            log.info(
                "stopping job",
                extra={"action": "job.stopping", "job": self.job.id, "reason": reason},
            )
        self.context.request_stop(reason)
        if self._inner is None or self._inner.done():
            return
        if grace <= 0:
            self._inner.cancel()
        elif self._hard_stop is None:
            self._hard_stop = asyncio.get_running_loop().call_later(grace, self._inner.cancel)

    async def _progress(self, fraction: float | None, message: str | None) -> None:
        await self.store.progress(self.lease, fraction, message)

    async def _artifact(self, artifact: Artifact) -> None:
        await self.store.add_artifact(self.lease, artifact)

    async def run(self) -> None:
        """Run the job to one recorded outcome; never raises (except when cancelled)."""
        self.task = asyncio.current_task()
        attributes: dict[str, str | int] = {
            "berth.job.id": self.job.id,
            "berth.job.kind": self.job.kind,
            "berth.job.attempt": self.job.attempts,
            "berth.model": self.job.model or "",
        }
        parent = tracing.context_from(self.job.trace_parent)
        with tracing.tracer().start_as_current_span(
            f"job {self.job.kind}", context=parent, attributes=attributes
        ):
            self._trace_queue_wait()
            log.info(
                "job started",
                extra={
                    "action": "job.started",
                    "job": self.job.id,
                    "kind": self.job.kind,
                    "attempt": self.job.attempts,
                    "trace_id": tracing.current_trace_id(),
                },
            )
            await self._attempt()

    def _trace_queue_wait(self) -> None:
        """Record the wait before this attempt: a metric, and a span back-dated to submit."""
        if self.job.started_at is None:
            return
        queued_since = max(self.job.created_at, self.job.run_after)
        if self.job.attempts == 1:
            wait = self.job.started_at - self.job.created_at
            metrics.job_queue_wait.labels(self.job.kind).observe(max(0.0, wait))
        span = tracing.tracer().start_span("queue wait", start_time=int(queued_since * 1e9))
        span.end(end_time=int(max(queued_since, self.job.started_at) * 1e9))

    async def _attempt(self) -> None:
        try:
            result = await self._invoke()
        except asyncio.CancelledError:
            if self.context.stop_reason is None:
                raise
            await self._record_stop()
        except Exception as exc:
            await self._record_failure(exc)
        else:
            await self._record(self.store.succeed(self.lease, result))
        finally:
            if self._hard_stop is not None:
                self._hard_stop.cancel()

    async def _invoke(self) -> JsonValue:
        params = self.kind.parse(self.job.input)
        self._inner = asyncio.create_task(self.kind.run(self.context, params))
        if self.context.cancelled:
            self._inner.cancel()
        timer = None
        if self.job.timeout is not None:
            timer = asyncio.get_running_loop().call_later(
                self.job.timeout,
                self.request_stop,
                "timeout",
                self.config.cancel_grace_seconds,
            )
        try:
            return await self._inner
        except (errors.JobCancelled, BaseExceptionGroup) as exc:
            if self.context.stop_reason is None or not _only_cancels(exc):
                raise
            raise asyncio.CancelledError from None
        finally:
            if timer is not None:
                timer.cancel()

    async def _record_stop(self) -> None:
        reason = self.context.stop_reason
        if reason == "lost":
            log.warning(
                "lease lost; result discarded",
                extra={"action": "job.lease_lost", "job": self.job.id},
            )
        elif reason == "shutdown":
            await self._record(self.store.release(self.lease, "shutdown"))
        elif reason == "timeout":
            error = errors.JobTimeout(
                f"Job '{self.job.id}' ran past its timeout of {self.job.timeout:g} s."
            )
            await self._record_failure(error)
        else:
            await self._record(self.store.mark_cancelled(self.lease, "cancelled by request"))

    async def _record_failure(self, exc: BaseException) -> None:
        info = ErrorInfo(
            type(exc).__name__,
            str(exc) or type(exc).__name__,
            "".join(traceback.format_exception(exc)),
        )
        retry_at = None
        permanent = isinstance(exc, PERMANENT)
        if not permanent and self.job.attempts < self.job.max_attempts:
            delay = backoff(
                self.job.attempts, self.config.retry_base_seconds, self.config.retry_max_seconds
            )
            retry_at = self._clock.now() + delay
        await self._record(self.store.fail(self.lease, info, retry_at))

    async def _record(self, call: Awaitable[Job]) -> None:
        try:
            job: Job = await call
        except errors.LeaseLost as exc:
            log.warning(
                "lease lost before the outcome was recorded",
                extra={"action": "job.lease_lost", "job": self.job.id, "error": exc.message},
            )
            return
        except errors.StoreError as exc:
            log.error(
                "cannot record the job's outcome; its lease will expire and it will rerun",
                extra={"action": "job.record_failed", "job": self.job.id, "error": exc.message},
            )
            return
        outcome = "retrying" if job.status is JobStatus.QUEUED else job.status.value
        ran = self._clock.now() - (self.job.started_at or self._clock.now())
        metrics.job_duration.labels(job.kind, outcome).observe(max(0.0, ran))
        log.info(
            "job %s",
            outcome,
            extra={"action": f"job.{outcome}", "job": job.id, "kind": job.kind},
        )
        self._provenance.write(self._folder, provenance(job, self.worker_id, self._versions))
