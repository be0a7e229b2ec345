"""``berth run FILE.yaml``: submit the job a run file describes (an eval suite becomes an eval
and one run of it; a fine-tune a fine-tuning job), then follow it with a progress bar and
print its result (for a ``train`` job also the model its adapter is served as); ``--detach``
leaves it queued. A ``berth serve`` or ``berth worker`` on the same database runs it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from berth.app import Berth
from berth.cli.context import err, out, run_with_berth
from berth.cli.jobs import _finish, _follow
from berth.cli.runfile import RunFile, dataset_rows, load
from berth.cli.tunefile import describes_fine_tune, load_tune, submit_tune
from berth.jobs.job import Job


async def submit_eval(berth: Berth, spec: RunFile, base: Path) -> tuple[str, str, str]:
    """The suite as an eval and a run of it; (eval id, run id, job id)."""
    suite = spec.suite
    assert suite is not None
    assert spec.model is not None
    evals = berth.services.evals
    made = await evals.create(
        None,
        name=suite.name,
        data_source_config={"type": "custom", "item_schema": suite.item_schema,
                            "include_sample_schema": True},
        testing_criteria=suite.graders,
    )  # fmt: skip
    chosen = None
    if suite.dataset.startswith("file-"):
        source: dict[str, Any] = {"type": "file_id", "id": suite.dataset}
    else:
        rows, chosen = dataset_rows((base / suite.dataset).resolve(), suite)
        source = {"type": "file_content", "content": rows}
    golden = suite.run_goldens(chosen)
    run = await evals.create_run(
        None,
        made.id,
        name=suite.name,
        priority=spec.priority,
        golden=golden,
        data_source={
            "type": "completions",
            "model": spec.model,
            "source": source,
            "input_messages": {"type": "template", "template": spec.messages()},
            "sampling_params": {"seed": suite.seed, **suite.sampling},
        },
    )
    assert run.job_id is not None
    return made.id, run.id, run.job_id


def run(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="The run file (YAML or JSON).")],
    detach: Annotated[bool, typer.Option("--detach", help="Queue it and return.")] = False,
) -> None:
    """Run the job FILE describes, with a progress bar; print its result (its report)."""
    if describes_fine_tune(file):
        _tune(ctx, file, detach)
        return
    spec = load(file)

    async def work(berth: Berth) -> Job:
        if spec.kind == "eval":
            eval_id, run_id, job_id = await submit_eval(berth, spec, file.parent)
            err.print(f"Eval {eval_id}, run {run_id}, job {job_id}", markup=False)
        else:
            submitted = await berth.services.jobs.submit(
                None, spec.kind, spec.input if spec.input is not None else {}, model=spec.model,
                priority=spec.priority,
            )  # fmt: skip
            job_id = submitted.job.id
        if detach:
            return await berth.services.jobs.get(None, job_id)
        return await _follow(berth, job_id)

    job = run_with_berth(ctx, work)
    if detach:
        out.print(job.id, markup=False)
        return
    _finish(job)
    _name_served(job)


def _name_served(job: Job) -> None:
    """Say which catalog model a finished ``train`` job's adapter is served as."""
    served = job.result.get("served_model") if isinstance(job.result, dict) else None
    if job.kind == "train" and isinstance(served, str):
        err.print(
            f"Served as model {served}: POST /v1/images/generations with model '{served}'.",
            markup=False,
        )


def _tune(ctx: typer.Context, file: Path, detach: bool) -> None:
    """A fine-tune run file (see :mod:`berth.cli.tunefile`)."""
    spec = load_tune(file)

    async def work(berth: Berth) -> Job:
        tune = await submit_tune(berth, spec, file.parent)
        assert tune.job_id is not None
        err.print(f"Fine-tuning job {tune.id}, job {tune.job_id}", markup=False)
        if detach:
            return await berth.services.jobs.get(None, tune.job_id)
        return await _follow(berth, tune.job_id)

    job = run_with_berth(ctx, work)
    if detach:
        out.print(job.id, markup=False)
        return
    _finish(job)
