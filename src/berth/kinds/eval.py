"""The ``eval`` job kind: one run of an eval (OpenAI's Evals API), as a durable job.

Input: ``{"run_id": ...}`` (with the model's facts and the run's goldens); the run (in the
eval store) names its eval and data source, and the eval service checked both before it
queued the job. Each row is sampled (a completions
run asks the run's model through ``ctx.models``, in the pool's background lane) and graded by
every testing criterion, and its output item is recorded the moment it is done. A run that
resumes after a crash (or a retry) reads which rows have items and samples only the others.
At the end the run's report is written (``report.json``, also the job's result), and a run
that drifted from its goldens fails naming the samples.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from berth import errors
from berth.clock import SystemClock
from berth.evals import report
from berth.evals.golden import Golden, verdict
from berth.evals.graders import criteria_of
from berth.evals.records import Eval, EvalRun, RunStatus, counts_of, usage_of
from berth.evals.report import Dataset, ModelFacts
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
    model_facts: dict[str, Any] | None = Field(
        default=None, description="The model's alias, source, revision and file hashes."
    )
    golden: list[Golden] = Field(default_factory=list, description="Outputs the run pins.")


def read_rows(path: Path, name: str) -> list[Row]:
    """The rows of an evals JSONL file (its upload checked each line)."""
    with path.open("rb") as stream:
        return [Row.model_validate(record) for _, record in records(stream, name)]


async def rows_of(ctx: JobContext, source: FileContent | Any) -> tuple[list[Row], Dataset]:
    """The rows of the run's source, and what they were (sha256, count, where from)."""
    if isinstance(source, FileContent):
        rows = list(source.content)
        return rows, Dataset(report.inline_digest(rows), len(rows), {"type": "file_content"})
    stored, path = await ctx.files.local(source.id)
    rows = await asyncio.to_thread(read_rows, path, stored.filename)
    where = {"type": "file_id", "id": stored.id, "filename": stored.filename}
    return rows, Dataset(stored.sha256, len(rows), where)


async def model_facts(params: EvalInput) -> ModelFacts | None:
    """The model's facts from the input; a local model without recorded hashes is hashed."""
    if params.model_facts is None:
        return None
    facts = ModelFacts.of(params.model_facts)
    if not facts.files and facts.source.startswith("local:"):
        folder = Path(facts.source.removeprefix("local:"))
        hashes = await asyncio.to_thread(report.hash_folder, folder)
        facts = dataclasses.replace(facts, files=hashes)
    return facts


async def _run_of(ctx: JobContext, run_id: str) -> EvalRun:
    try:
        run = await ctx.evals.get_run(run_id)
    except errors.UnknownEvalRun:
        raise errors.InvalidJobInput(
            f"There is no eval run '{run_id}'. Start runs with POST /v1/evals/{{id}}/runs."
        ) from None
    if run.owner != ctx.job.owner:
        raise errors.InvalidJobInput(
            f"Eval run '{run.id}' belongs to another key; a job may run only its owner's runs."
        )
    return run


async def run_eval(ctx: JobContext, params: EvalInput) -> dict[str, Any]:
    """Sample and grade every row the run has no output item for yet; then count them all,
    write the report, and hold the run to its goldens."""
    store = ctx.evals
    run = await _run_of(ctx, params.run_id)
    found = await store.get_eval(run.eval_id)
    source = data_source_of(run.data_source)
    criteria = criteria_of(found.testing_criteria)
    needs_models = isinstance(source, Completions) or any(c.models() for c in criteria)
    models = ctx.models if needs_models else None
    if isinstance(source, Completions):
        ctx.models.check(source.model, GENERATE)
    rows, dataset = await rows_of(ctx, source.source)
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
    ctx.check_cancelled()
    seed = source.sampling_params.seed if isinstance(source, Completions) else None
    made = await _report(ctx, params, found, dataclasses.replace(run, job_id=ctx.job.id),
                         dataset, seed)  # fmt: skip
    return {
        "run_id": run.id,
        "eval_id": run.eval_id,
        "result_counts": made["result_counts"],
        "per_testing_criteria_results": made["per_testing_criteria_results"],
        "resumed_with": len(done),
        "sampled": len(todo),
        "report": made,
    }


async def _report(
    ctx: JobContext,
    params: EvalInput,
    found: Eval,
    run: EvalRun,
    dataset: Dataset,
    seed: int | None,
) -> dict[str, Any]:
    """Count the items, write ``report.json``, record the run; fail it if goldens drifted."""
    items = await ctx.evals.all_items(run.id)
    counts, per = counts_of(items, [str(c.get("name")) for c in found.testing_criteria])
    made = report.build(found, run, dataset, await model_facts(params), seed, items)
    golden = verdict(params.golden, items)
    made["golden"] = golden
    await asyncio.to_thread(report.write, ctx.output_dir, made)
    await ctx.add_artifact(report.REPORT_FILE, "application/json")
    drifted = golden["drifted"]
    status = RunStatus.FAILED if drifted else RunStatus.COMPLETED
    error = None
    if drifted:
        names = "; ".join(d["message"] for d in drifted)
        error = {"code": "golden_drift", "message": f"{len(drifted)} of {golden['pinned']} "
                 f"pinned samples drifted: {names}."}  # fmt: skip
    finished = dataclasses.replace(
        run, status=status, result_counts=counts, per_testing_criteria_results=per,
        per_model_usage=usage_of(items), error=error,
    )  # fmt: skip
    await ctx.evals.update_run(finished)
    if error is not None:
        raise errors.GoldenDrift(
            f"Eval run '{run.id}': {error['message']} See {report.REPORT_FILE} in the job's "
            "artifacts; pin the new outputs if the change is meant."
        )
    return made


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
