"""The ``pull`` job kind: download a catalog model into the cache, with progress."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel, ConfigDict

from berth import errors
from berth.hookspecs import Registry
from berth.jobs.context import JobContext
from berth.jobs.kind import JobKind
from berth.models.pull import PullProgress


class PullInput(BaseModel):
    """Input of the ``pull`` kind; the model is the job's ``model``."""

    model_config = ConfigDict(extra="forbid")


class PullCancelled(Exception):
    """Raised from the progress callback to stop a download that was cancelled."""


async def pull(ctx: JobContext, params: PullInput) -> dict[str, Any]:
    """Pull ``ctx.job.model`` as ``berth models pull`` would; a cancel stops the download."""
    if not ctx.job.model:
        raise errors.InvalidJobInput("A pull job needs a model: submit it with model=<alias>.")
    alias, pulls = ctx.job.model, ctx.pulls
    loop = asyncio.get_running_loop()
    last = {"fraction": -1.0}

    def report(progress: PullProgress) -> None:
        if ctx.cancelled:
            raise PullCancelled
        fraction = progress.done / progress.total if progress.total else 0.0
        if fraction - last["fraction"] >= 0.01 or progress.done == progress.total:
            last["fraction"] = fraction
            message = f"{progress.phase} {progress.file}"
            asyncio.run_coroutine_threadsafe(ctx.progress(min(fraction, 1.0), message), loop)

    try:
        manifest = await asyncio.to_thread(pulls.pull, alias, report)
    except PullCancelled:
        ctx.check_cancelled()
        raise
    files = manifest.files.values()
    return {"model": alias, "files": len(files), "bytes": sum(f.size for f in files)}


def register(registry: Registry) -> None:
    """Register the kinds that manage models."""
    registry.add_kind(
        JobKind(
            "pull",
            pull,
            "Downloads the job's model into the cache, verifying every file.",
            input_model=PullInput,
            concurrency=2,
        )
    )
