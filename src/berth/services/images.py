"""Text-to-image for callers: drawn online through the model pool, or as an ``image`` job whose
PNG artifacts outlive the request.

The API calls this; :func:`draw` is shared with the ``image`` job kind.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import asdict, replace

from berth import errors
from berth.jobs.job import Job, JobStatus, JsonValue
from berth.keys.key import ApiKey
from berth.services.inference import InferenceService
from berth.services.jobs import JobService
from berth.tasks.calls import ModelCalls
from berth.tasks.image import IMAGE, GeneratedImages, ImageRequest, Progress, check

KIND = "image"
SEED_RANGE = 2**32
OnProgress = Callable[[Progress], Awaitable[None]]


async def draw(
    models: ModelCalls, alias: str, request: ImageRequest, on_progress: OnProgress | None = None
) -> GeneratedImages:
    """Draw ``request`` with the model ``alias``, passing each denoising step to
    ``on_progress``. Leaving early (an error, a cancelled task, ``on_progress`` raising) closes
    the stream, which stops the model at its next step."""
    chunks = models.stream(alias, IMAGE, request)
    try:
        async for chunk in chunks:
            if isinstance(chunk, GeneratedImages):
                return chunk
            if on_progress is not None and isinstance(chunk, Progress):
                await on_progress(chunk)
    finally:
        if isinstance(chunks, AsyncGenerator):
            await chunks.aclose()
    raise errors.ModelError(f"Model '{alias}' ended its stream without images.")


def job_input(request: ImageRequest) -> dict[str, JsonValue]:
    """``request`` as the input of an ``image`` job (the prompt and the set fields)."""
    return {key: value for key, value in asdict(request).items() if value is not None}


def job_failure(job: Job) -> errors.BerthError:
    """The error to raise for an image job that did not succeed."""
    message = job.error.message if job.error is not None else f"The job ended {job.status}."
    if job.error is not None and job.error.type in {"InvalidJobInput", "InvalidRequest"}:
        return errors.InvalidRequest(message)
    if job.status is JobStatus.CANCELLED:
        return errors.ModelError(f"Image job '{job.id}' was cancelled before it finished.")
    return errors.ModelError(f"Image job '{job.id}' failed: {message}")


class ImageService:
    """Images for prompts; shared by the API and the UI."""

    def __init__(self, inference: InferenceService, jobs: JobService) -> None:
        self.inference = inference
        self.jobs = jobs

    async def generate(
        self,
        caller: ApiKey | None,
        alias: str,
        request: ImageRequest,
        on_progress: OnProgress | None = None,
    ) -> GeneratedImages:
        """Draw the images now, through the pool; nothing is written to the job store."""
        check(request)
        return await draw(self.inference.calls(caller), alias, request, on_progress)

    async def generate_as_job(
        self, caller: ApiKey | None, alias: str, request: ImageRequest
    ) -> Job:
        """Run the drawing as an ``image`` job and wait for it: the succeeded job, whose
        artifacts are the PNGs. A seed is chosen up front, so the job's input (and its
        provenance) records it. Leaving early cancels the job."""
        check(request)
        if request.seed is None:
            request = replace(request, seed=random.randrange(SEED_RANGE))
        submitted = await self.jobs.submit(caller, KIND, job_input(request), model=alias)
        try:
            job = await self.jobs.follow(caller, submitted.job.id, poll_seconds=0.1)
        except asyncio.CancelledError:
            await asyncio.shield(self.jobs.cancel(caller, submitted.job.id))
            raise
        if job.status is not JobStatus.SUCCEEDED:
            raise job_failure(job)
        return job
