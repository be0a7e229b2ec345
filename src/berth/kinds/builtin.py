"""``echo``, ``sleep`` and ``fail``: small real kinds for tests, demos and benchmarks."""

from __future__ import annotations

import os
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from berth.hookspecs import Registry
from berth.jobs.context import JobContext
from berth.jobs.job import JsonValue
from berth.jobs.kind import JobKind


async def echo(ctx: JobContext, data: JsonValue) -> JsonValue:
    """Return the input unchanged."""
    return data


class SleepInput(BaseModel):
    """Input of the ``sleep`` kind."""

    model_config = ConfigDict(extra="forbid")

    seconds: float = Field(default=1.0, ge=0, le=86_400, description="How long to sleep.")
    steps: int = Field(default=10, ge=1, le=10_000, description="Progress reports along the way.")
    journal: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_.-]{1,64}$",
        description="If set, append '<job id> <attempt>' to HOME/journals/<journal>.log when "
        "the sleep ends: a visible side effect for tests of at-least-once delivery.",
    )


async def sleep(ctx: JobContext, params: SleepInput) -> dict[str, Any]:
    """Sleep in steps, reporting progress after each and stopping as soon as asked."""
    step = params.seconds / params.steps
    for done in range(1, params.steps + 1):
        await ctx.sleep(step)
        await ctx.progress(done / params.steps, f"slept {done * step:.2f} of {params.seconds:g} s")
    if params.journal:
        folder = ctx.home / "journals"
        folder.mkdir(parents=True, exist_ok=True)
        line = f"{ctx.job.id} {ctx.job.attempts}\n"
        fd = os.open(folder / f"{params.journal}.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)
    return {"slept": params.seconds}


class FailInput(BaseModel):
    """Input of the ``fail`` kind."""

    model_config = ConfigDict(extra="forbid")

    message: str = Field(default="failed on purpose", max_length=10_000)


class IntentionalFailure(RuntimeError):
    """Raised by the ``fail`` kind."""


async def fail(ctx: JobContext, params: FailInput) -> JsonValue:
    """Raise an error with the given message."""
    raise IntentionalFailure(params.message)


def register(registry: Registry) -> None:
    """Register the built-in kinds."""
    registry.add_kind(JobKind("echo", echo, "Returns its input unchanged."))
    registry.add_kind(
        JobKind(
            "sleep",
            sleep,
            "Sleeps, reporting progress, and stops as soon as it is cancelled.",
            input_model=SleepInput,
        )
    )
    registry.add_kind(
        JobKind("fail", fail, "Raises an error with the given message.", input_model=FailInput)
    )
