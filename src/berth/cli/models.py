"""``berth models``: list the catalog, pull, verify and remove cached models, see what runs."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.filesize import decimal
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Column, Table

from berth import errors
from berth.app import Berth
from berth.cli.context import err, out, print_json, run_with_berth, settings_of
from berth.models.manifest import ModelState
from berth.models.pull import ProgressSink, PullProgress
from berth.models.verify import VerifyReport
from berth.services.models import LoadedModel, ModelService, ModelStatus

app = typer.Typer(help="The model catalog and the offline model cache.", no_args_is_help=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
AliasArgument = Annotated[str, typer.Argument(help="The model's alias (see `berth models ls`).")]
_COMMIT = re.compile(r"@([0-9a-f]{12})[0-9a-f]{28}$")
_DOING = {"download": "pulling", "verify": "checking"}
_LABEL = 34


def service_of(ctx: typer.Context, berth: Berth | None = None) -> ModelService:
    """The model service for a command: ``berth``'s (open, so it sees the workers in its
    store), or one over a Berth left closed (pull, verify and remove need no database)."""
    return (berth or Berth(settings_of(ctx))).services.models


@app.command("ls")
def list_models(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """List every model in the catalog with its state: missing, cached, verified, corrupt or
    loaded (held by a live worker)."""
    statuses = run_with_berth(ctx, lambda berth: service_of(ctx, berth).list_models())
    if as_json:
        print_json([status.to_json() for status in statuses])
        return
    table = Table("MODEL", "TASK", "STATE", "SIZE", "RUNNER", "SOURCE", "DESCRIPTION")
    for status in statuses:
        table.add_row(
            status.spec.alias,
            status.spec.task.value,
            _state(status),
            _size(status.size_bytes),
            _runner(status),
            _COMMIT.sub(r"@\1", status.spec.source),
            status.spec.description,
        )
    out.print(table)


@app.command()
def pull(ctx: typer.Context, alias: AliasArgument) -> None:
    """Download a model's files from the hub, check every sha256, and record them; an
    interrupted pull resumes where it stopped."""
    service = service_of(ctx)
    spec = service.get(alias)
    try:
        with _bar() as show:
            manifest = service.pull(alias, show)
    except KeyboardInterrupt:
        err.print(f"Interrupted: `berth models pull {alias}` resumes where it stopped.")
        raise
    revision = f" at {manifest.revision}" if manifest.revision else ""
    out.print(
        f"{alias} is cached and verified: {len(manifest.files)} files, "
        f"{_size(manifest.total_bytes)}, from {spec.source}{revision}.",
        markup=False,
    )


@app.command()
def verify(
    ctx: typer.Context,
    alias: Annotated[
        str | None, typer.Argument(help="One model's alias; all cached models without it.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Re-hash the cached files of one model, or of every model; exit 1 if any is corrupt."""
    service = service_of(ctx)
    with _bar() as show:
        reports = service.verify(alias, show)
    if as_json:
        print_json([report.to_json() for report in reports])
    else:
        _print_reports(reports)
    corrupt = [report.alias for report in reports if report.state is ModelState.CORRUPT]
    if corrupt:
        raise errors.ModelCorrupt(
            f"{len(corrupt)} model(s) are corrupt: {', '.join(corrupt)}. Pull them again with "
            f"`berth models pull {corrupt[0]}`."
        )


@app.command("rm")
def remove(ctx: typer.Context, alias: AliasArgument) -> None:
    """Delete a model's files from the cache and say how much space that freed."""
    freed = service_of(ctx).remove(alias)
    if freed:
        out.print(f"Removed {alias} from the cache: freed {freed:,} bytes ({_size(freed)}).")
    else:
        out.print(f"{alias} was not in the cache: freed 0 bytes.")


@app.command()
def ps(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """List the models live workers hold, with their device, memory, idle time and requests."""

    async def work(berth: Berth) -> tuple[list[LoadedModel], int]:
        service = service_of(ctx, berth)
        return await service.loaded(), await service.live_workers()

    loaded, workers = run_with_berth(ctx, work)
    if as_json:
        print_json([model.to_json() for model in loaded])
        return
    table = Table("WORKER", "HOST", "MODEL", "DEVICE", "MEMORY", "IDLE", "REQUESTS", "PINNED")
    for model in loaded:
        table.add_row(
            model.worker_id,
            model.host,
            model.alias,
            model.device or "-",
            _size(model.memory_bytes),
            "-" if model.idle_seconds is None else f"{model.idle_seconds:.0f}s",
            "-" if model.requests is None else str(model.requests),
            "yes" if model.pinned else "no",
        )
    out.print(table)
    if not loaded and not workers:
        err.print("No models are loaded: no worker is running. Start one with `berth serve`.")
    elif not loaded:
        err.print(
            f"No models are loaded on the {workers} running worker(s): a model loads on its "
            "first request."
        )


@contextmanager
def _bar() -> Iterator[ProgressSink]:
    """A progress bar on stderr, drawn from the first progress report on (none if none)."""
    columns = (
        TextColumn("{task.description}", table_column=Column(width=_LABEL, no_wrap=True)),
        BarColumn(bar_width=16),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    progress = Progress(*columns, console=err, transient=False)
    tasks: dict[str, TaskID] = {}

    def show(report: PullProgress) -> None:
        if not tasks:
            progress.start()
        if report.alias not in tasks:
            tasks[report.alias] = progress.add_task(report.alias, total=report.total)
        verb, path = _DOING[report.phase], f"{report.alias}/{report.file}"
        room = _LABEL - len(verb) - 1
        label = f"{verb} {path if len(path) <= room else '…' + path[1 - room :]}"
        progress.update(
            tasks[report.alias], description=label, completed=report.done, total=report.total
        )

    try:
        yield show
    finally:
        if tasks:
            progress.stop()


def _print_reports(reports: list[VerifyReport]) -> None:
    table = Table("MODEL", "STATE", "FILES", "SIZE", "PROBLEMS")
    for report in reports:
        problems = "; ".join(check.describe() for check in report.bad)
        if report.state is ModelState.MISSING:
            problems = f"not in the cache: `berth models pull {report.alias}`"
        files = str(len(report.files)) if report.files else "-"
        table.add_row(
            report.alias, report.state.value, files, _size(report.total_bytes), problems or "-"
        )
    out.print(table)


def _state(status: ModelStatus) -> str:
    if status.state is ModelState.LOADED:
        return f"loaded ({len(status.loaded_on)})"
    return status.state.value


def _runner(status: ModelStatus) -> str:
    missing = status.runner_installed is False
    return status.spec.runner + (" (not installed)" if missing else "")


def _size(count: int | None) -> str:
    return "-" if not count else decimal(count)
