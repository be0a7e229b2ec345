"""``berth jobs``: submit, list, show, cancel and wait for jobs."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Column, Table

from berth import errors
from berth.app import Berth
from berth.cli.context import err, out, print_json, run_with_berth
from berth.jobs.job import Job, JobEvent, JobStatus, JsonValue
from berth.jobs.outputs import provenance

app = typer.Typer(help="Submit and follow durable jobs.", no_args_is_help=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def parse_input(text: str) -> JsonValue:
    """The ``--input`` value: JSON, or ``@PATH`` to read JSON from a file."""
    source = "--input"
    if text.startswith("@"):
        path = Path(text[1:])
        source = str(path)
        try:
            text = path.read_text()
        except OSError as exc:
            raise errors.InvalidRequest(
                f"Cannot read the input file {path}: {exc.strerror}."
            ) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise errors.InvalidRequest(
            f"{source} is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}). "
            """Pass a JSON value, e.g. --input '{"seconds": 2}', or @file.json."""
        ) from None


def job_json(job: Job) -> dict[str, Any]:
    record = provenance(job, job.worker_id or "", {})
    record.pop("versions")
    record.pop("worker")
    record["worker_id"] = job.worker_id
    record["progress"] = job.progress
    record["progress_message"] = job.progress_message
    record["cancel_requested"] = job.cancel_requested
    return record


def _ago(moment: float | None) -> str:
    if moment is None:
        return "-"
    seconds = max(0.0, time.time() - moment)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit} ago"
    return f"{seconds:.0f}s ago"


async def _follow(berth: Berth, job_id: str) -> Job:
    """Show a progress bar until the job ends."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, transient=False) as bar:
        task = bar.add_task(f"{job_id} queued", total=1.0)

        def show(event: JobEvent) -> None:
            fraction = event.data.get("fraction") if event.type == "progress" else None
            message = event.data.get("message") if event.type == "progress" else None
            label = f"{job_id} {message or event.type.value}"
            if event.type == "succeeded":
                fraction = 1.0
            bar.update(task, description=label, completed=fraction)

        return await berth.services.jobs.follow(None, job_id, show)


def _finish(job: Job) -> None:
    """Print how a waited-for job ended; exit non-zero unless it succeeded."""
    if job.status is JobStatus.SUCCEEDED:
        print_json(job.result)
        return
    reason = f": {job.error.type}: {job.error.message}" if job.error else ""
    err.print(f"Job {job.id} {job.status.value}{reason}", markup=False)
    raise typer.Exit(1)


@app.command()
def submit(
    ctx: typer.Context,
    kind: Annotated[str, typer.Argument(help="The job kind (see `berth jobs kinds`).")],
    input: Annotated[str, typer.Option("--input", "-i", help="JSON input, or @file.json.")] = "{}",
    model: Annotated[str | None, typer.Option(help="The model the job uses.")] = None,
    priority: Annotated[int, typer.Option(help="Higher runs first.")] = 0,
    idempotency_key: Annotated[
        str | None, typer.Option(help="Submitting the same key again returns the first job.")
    ] = None,
    max_attempts: Annotated[int | None, typer.Option(help="Attempts before it fails.")] = None,
    timeout: Annotated[float | None, typer.Option(help="Seconds one attempt may run.")] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait, with a progress bar.")] = False,
) -> None:
    """Submit a job; print its id (or, with --wait, its result)."""
    data = parse_input(input)

    async def work(berth: Berth) -> Job:
        submission = await berth.services.jobs.submit(
            None,
            kind,
            data,
            model=model,
            priority=priority,
            max_attempts=max_attempts,
            timeout=timeout,
            idempotency_key=idempotency_key,
        )
        if not submission.created:
            err.print(f"A job with this idempotency key exists: {submission.job.id}", markup=False)
        if not wait:
            return submission.job
        err.print(f"Submitted {submission.job.id}; waiting (Ctrl-C stops waiting, not the job).")
        return await _follow(berth, submission.job.id)

    job = run_with_berth(ctx, work)
    if wait:
        _finish(job)
    else:
        out.print(job.id, markup=False)


@app.command("ls")
def list_jobs(
    ctx: typer.Context,
    status: Annotated[list[JobStatus] | None, typer.Option(help="Only these states.")] = None,
    kind: Annotated[str | None, typer.Option(help="Only this kind.")] = None,
    model: Annotated[str | None, typer.Option(help="Only this model.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many.")] = 50,
    before: Annotated[str | None, typer.Option(help="Jobs older than this id (paging).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """List jobs, newest first."""
    jobs = run_with_berth(
        ctx,
        lambda berth: berth.services.jobs.list_jobs(
            None,
            statuses=frozenset(status or ()),
            kind=kind,
            model=model,
            before=before,
            limit=limit,
        ),
    )
    if as_json:
        print_json([job_json(job) for job in jobs])
        return
    table = Table("KIND", "STATUS", "PRIORITY", "ATTEMPTS", "PROGRESS", "CREATED", "MODEL")
    table.columns.insert(0, Column("ID", no_wrap=True, min_width=len(jobs[0].id) if jobs else 2))
    for job in jobs:
        progress = f"{job.progress:.0%}" if job.progress is not None else "-"
        table.add_row(
            job.id,
            job.kind,
            job.status.value,
            str(job.priority),
            f"{job.attempts}/{job.max_attempts}",
            progress,
            _ago(job.created_at),
            job.model or "-",
        )
    out.print(table)
    if not jobs:
        err.print("No jobs match.")


@app.command()
def show(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(help="The job's id.")],
    as_json: JsonFlag = False,
) -> None:
    """Show one job with its events."""

    async def work(berth: Berth) -> tuple[Job, list[JobEvent]]:
        jobs = berth.services.jobs
        return await jobs.get(None, job_id), await jobs.events(None, job_id)

    job, events = run_with_berth(ctx, work)
    record = job_json(job)
    record["events"] = [
        {"seq": e.seq, "type": e.type.value, "at": e.at, "data": dict(e.data)} for e in events
    ]
    if as_json:
        print_json(record)
        return
    fields = Table.grid(padding=(0, 2))
    for key in ("id", "kind", "model", "status", "priority", "attempts", "max_attempts"):
        fields.add_row(key, str(record[key]))
    fields.add_row("input", json.dumps(job.input))
    fields.add_row("result", json.dumps(job.result))
    if job.error:
        fields.add_row("error", f"{job.error.type}: {job.error.message}")
    out.print(fields)
    table = Table("SEQ", "EVENT", "WHEN", "DATA")
    for event in events:
        table.add_row(str(event.seq), event.type.value, _ago(event.at), json.dumps(event.data))
    out.print(table)
    if job.error and job.error.traceback:
        out.print(job.error.traceback, markup=False)


@app.command()
def cancel(
    ctx: typer.Context, job_id: Annotated[str, typer.Argument(help="The job's id.")]
) -> None:
    """Cancel a job: a queued one at once, a running one as soon as it stops."""
    job, changed = run_with_berth(ctx, lambda berth: berth.services.jobs.cancel(None, job_id))
    if job.status is JobStatus.CANCELLED and changed:
        out.print(f"Cancelled {job.id}.")
    elif job.status is JobStatus.RUNNING:
        out.print(f"Asked {job.id} to stop; it is cancelled once its worker stops it.")
    else:
        out.print(f"Job {job.id} already {job.status.value}; nothing to cancel.")


@app.command("wait")
def wait_job(
    ctx: typer.Context, job_id: Annotated[str, typer.Argument(help="The job's id.")]
) -> None:
    """Wait for a job to end, with a progress bar; exit non-zero unless it succeeded."""
    _finish(run_with_berth(ctx, lambda berth: _follow(berth, job_id)))


@app.command()
def kinds(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """List the job kinds that can be submitted."""
    from berth.plugins import discover

    found = discover().kinds
    if as_json:
        print_json({name: kind.input_schema() for name, kind in sorted(found.items())})
        return
    table = Table("KIND", "DESCRIPTION")
    for name, kind in sorted(found.items()):
        table.add_row(name, kind.description)
    out.print(table)
