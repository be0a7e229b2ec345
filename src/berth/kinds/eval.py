"""The ``eval`` job kind: one run of an eval (OpenAI's Evals API), as a durable job.

Input: ``{"run_id": ...}``; the run (in the eval store) names its eval and data source, and
the eval service checked both before it queued the job. Each row is sampled (a completions
run asks the run's model through ``ctx.models``, in the pool's background lane) and graded by
every testing criterion, and its output item is recorded the moment it is done. A run that
resumes after a crash (or a retry) reads which rows have items and samples only the others.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from berth import errors
from berth.clock import SystemClock
from berth.evals.graders import criteria_of
from berth.evals.records import RunStatus, counts_of, usage_of
from berth.evals.sampling import Sampler
from berth.evals.sources import Completions, FileContent, Row, data_source_of
from berth.files.checks import records
from berth.hookspecs import Registry
from berth.jobs.context import JobContext
from berth.jobs.kind import JobKind
from berth.tasks.generate import GENERATE

IN_FLIGHT = 32
"""Rows sampled at once (the pool batches their calls); more wait their turn."""
PROGRESS_STEPS = 100


class EvalInput(BaseModel):
    """Input of the ``eval`` kind (the eval service writes it)."""

    model_config = ConfigDict(extra="forbid")

    run_id: str = Field(min_length=1, max_length=40, description="The eval run to do.")


def read_rows(path: Path, name: str) -> list[Row]:
    """The rows of an evals JSONL file (its upload checked each line)."""
    with path.open("rb") as stream:
        return [Row.model_validate(record) for _, record in records(stream, name)]


async def rows_of(ctx: JobContext, source: FileContent | Any) -> list[Row]:
    if isinstance(source, FileContent):
        return list(source.content)
    stored, path = await ctx.files.local(source.id)
    return await asyncio.to_thread(read_rows, path, stored.filename)


async def run_eval(ctx: JobContext, params: EvalInput) -> dict[str, Any]:
    """Sample and grade every row the run has no output item for yet; then count them all."""
    store = ctx.evals
    try:
        run = await store.get_run(params.run_id)
    except errors.UnknownEvalRun:
        raise errors.InvalidJobInput(
            f"There is no eval run '{params.run_id}'. Start runs with POST /v1/evals/{{id}}/runs."
        ) from None
    if run.owner != ctx.job.owner:
        raise errors.InvalidJobInput(
            f"Eval run '{run.id}' belongs to another key; a job may run only its owner's runs."
        )
    found = await store.get_eval(run.eval_id)
    source = data_source_of(run.data_source)
    criteria = criteria_of(found.testing_criteria)
    needs_models = isinstance(source, Completions) or any(c.models() for c in criteria)
    models = ctx.models if needs_models else None
    if isinstance(source, Completions):
        ctx.models.check(source.model, GENERATE)
    rows = await rows_of(ctx, source.source)
    done = {item.index for item in await store.all_items(run.id)}
    await store.update_run(
        dataclasses.replace(run, status=RunStatus.IN_PROGRESS, job_id=ctx.job.id)
    )
    sampler = Sampler(
        run, source, [(c, c.build(models)) for c in criteria], models, SystemClock(),
        ctx.job.attempts,
    )  # fmt: skip
    todo = [(index, row) for index, row in enumerate(rows) if index not in done]
    await ctx.progress(len(done) / len(rows), f"{len(done)} of {len(rows)} samples done")
    await _sample_all(ctx, sampler, todo, len(done), len(rows))
    items = await store.all_items(run.id)
    counts, per = counts_of(items, [c.name for c in criteria])
    finished = dataclasses.replace(
        run, status=RunStatus.COMPLETED, job_id=ctx.job.id, result_counts=counts,
        per_testing_criteria_results=per, per_model_usage=usage_of(items),
    )  # fmt: skip
    await store.update_run(finished)
    return {
        "run_id": run.id,
        "eval_id": run.eval_id,
        "result_counts": counts.as_json(),
        "per_testing_criteria_results": [c.as_json() for c in per],
        "resumed_with": len(done),
        "sampled": len(todo),
    }


async def _sample_all(
    ctx: JobContext, sampler: Sampler, todo: list[tuple[int, Row]], done: int, total: int
) -> None:
    gate = asyncio.Semaphore(IN_FLIGHT)
    every = max(1, total // PROGRESS_STEPS)
    finished = done

    async def one(index: int, row: Row) -> None:
        nonlocal finished
        async with gate:
            ctx.check_cancelled()
            item = await sampler.item(index, row)
            await ctx.evals.add_item(item)
            finished += 1
            if finished % every == 0 or finished == total:
                await ctx.progress(finished / total, f"{finished} of {total} samples done")

    async with asyncio.TaskGroup() as group:
        for index, row in todo:
            group.create_task(one(index, row))


def register(registry: Registry) -> None:
    """Register the kind."""
    registry.add_kind(
        JobKind(
            "eval",
            run_eval,
            "Runs one eval run (POST /v1/evals/{id}/runs): samples each row of its data "
            "source, grades it by the eval's testing criteria, and records every sample as it "
            "finishes, so a resumed run does not redo them.",
            input_model=EvalInput,
            task=GENERATE,
        )
    )
