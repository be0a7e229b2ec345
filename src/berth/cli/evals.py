"""``berth evals``: named suites (run files under ``BERTH_HOME/evals/``) and their runs.

``ls`` lists the suites, ``run NAME`` runs one (checked first, like ``berth run``), ``show
RUN_ID`` prints a run with its report and failures, ``compare RUN_A RUN_B`` prints how B
differs from A per criterion and per sample.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from berth import errors
from berth.app import Berth
from berth.cli.context import err, out, print_json, run_with_berth, settings_of
from berth.cli.jobs import _finish, _follow
from berth.cli.run import submit_eval
from berth.cli.runfile import RunFile, load
from berth.evals.compare import Comparison
from berth.evals.records import EvalRun, OutputItem
from berth.jobs.job import Job

app = typer.Typer(help="Named eval suites (YAML under BERTH_HOME/evals/) and their runs.")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
SUFFIXES = (".yaml", ".yml", ".json")
SHOWN_FAILURES = 20


def suites_dir(ctx: typer.Context) -> Path:
    return settings_of(ctx).home / "evals"


def suite_files(folder: Path) -> list[Path]:
    """The suite files in ``folder``, by name."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix in SUFFIXES and p.is_file())


def suite_path(folder: Path, name: str) -> Path:
    """The file of suite ``name``; InvalidRequest naming the folder when there is none."""
    if not NAME.match(name):
        raise errors.InvalidRequest(
            f"{name!r} is not a suite name: use letters, digits, '.', '_' and '-'."
        )
    for suffix in SUFFIXES:
        if (path := folder / f"{name}{suffix}").is_file():
            return path
    known = ", ".join(p.stem for p in suite_files(folder)) or "none yet"
    raise errors.InvalidRequest(
        f"There is no suite '{name}' in {folder} (suites: {known}). Write {folder}/{name}.yaml "
        "with kind: eval, a model and a suite (see `berth run --help`)."
    )


def load_suite(path: Path) -> RunFile:
    """The suite file at ``path``, checked (file, line and field named when it is wrong)."""
    spec = load(path)
    if spec.kind != "eval":
        raise errors.InvalidRequest(
            f"{path}, line 1, field kind: a suite under BERTH_HOME/evals is kind eval, not "
            f"{spec.kind!r}; run other files with `berth run FILE`."
        )
    return spec


@app.command("ls")
def list_suites(ctx: typer.Context) -> None:
    """List the suites under BERTH_HOME/evals/ (a bad file is listed with what is wrong)."""
    folder = suites_dir(ctx)
    files = suite_files(folder)
    if not files:
        err.print(f"No suites in {folder}: write NAME.yaml there (kind: eval).", markup=False)
        return
    table = Table("NAME", "MODEL", "DATASET", "GRADERS", "SAMPLES", "GOLDEN")
    for path in files:
        try:
            spec = load_suite(path)
        except errors.InvalidRequest as exc:
            table.add_row(path.stem, "-", f"invalid: {exc.message}", "-", "-", "-")
            continue
        suite = spec.suite
        assert suite is not None
        samples = suite.max_samples or (f"{suite.sample_fraction:g}" if suite.sample_fraction
                                        else "all")  # fmt: skip
        table.add_row(path.stem, spec.model or "-", suite.dataset, str(len(suite.graders)),
                      str(samples), str(len(suite.golden)))  # fmt: skip
    out.print(table)


@app.command("run")
def run_suite(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The suite (BERTH_HOME/evals/NAME.yaml).")],
    detach: Annotated[bool, typer.Option("--detach", help="Queue it and return.")] = False,
) -> None:
    """Run suite NAME with a progress bar; print its result (its report)."""
    path = suite_path(suites_dir(ctx), name)
    spec = load_suite(path)

    async def work(berth: Berth) -> Job:
        eval_id, run_id, job_id = await submit_eval(berth, spec, path.parent)
        err.print(f"Eval {eval_id}, run {run_id}, job {job_id}", markup=False)
        if detach:
            return await berth.services.jobs.get(None, job_id)
        return await _follow(berth, job_id)

    job = run_with_berth(ctx, work)
    if detach:
        out.print(job.id, markup=False)
        return
    _finish(job)


async def _run_and_items(berth: Berth, run_id: str) -> tuple[EvalRun, list[OutputItem]]:
    run = await berth.services.evals.find_run(None, run_id)
    return run, await berth.services.evals.store.all_items(run.id)


def _rate(passed: int, failed: int) -> str:
    return f"{passed}/{passed + failed}" + (f" ({passed / (passed + failed):.0%})"
                                            if passed + failed else "")  # fmt: skip


def _print_run(run: EvalRun, items: list[OutputItem], report: dict[str, Any] | None) -> None:
    counts = run.result_counts
    out.print(f"Run {run.id} of eval {run.eval_id}: {run.status.value}", markup=False)
    out.print(f"  model {run.model or '-'}, job {run.job_id or '-'}", markup=False)
    out.print(f"  samples {counts.total}: passed {counts.passed}, failed {counts.failed}, "
              f"errored {counts.errored}", markup=False)  # fmt: skip
    if run.error is not None:
        out.print(f"  error: {run.error.get('message')}", markup=False)
    for result in run.per_testing_criteria_results:
        out.print(f"  criterion {result.testing_criteria}: "
                  f"{_rate(result.passed, result.failed)}", markup=False)  # fmt: skip
    if report is not None:
        _print_report(report)
    failures = sorted((i for i in items if i.status != "pass"), key=lambda i: i.index)
    for item in failures[:SHOWN_FAILURES]:
        grades = ", ".join(f"{r.get('name')}={r.get('score')}" for r in item.results) or "-"
        output = item.sample.get("output_text")
        line = f"  {item.status} #{item.index}: input {item.item} output {output!r} grades {grades}"
        out.print(line, markup=False)
    if len(failures) > SHOWN_FAILURES:
        out.print(f"  ... and {len(failures) - SHOWN_FAILURES} more", markup=False)


def _print_report(report: dict[str, Any]) -> None:
    dataset, model, berth = report["dataset"], report.get("model") or {}, report["berth"]
    latency = report["timings"]["latency_ms"]
    out.print(f"  dataset sha256 {dataset['sha256']} ({dataset['rows']} rows)", markup=False)
    if model:
        out.print(f"  model {model['alias']} from {model['source']} revision "
                  f"{model['revision'] or '-'} ({len(model['files'])} files hashed)",
                  markup=False)  # fmt: skip
    out.print(f"  seeds {report['seeds']}; berth {berth['version']} commit "
              f"{berth['git_commit'] or '-'}", markup=False)  # fmt: skip
    if latency["count"]:
        out.print(f"  latency p50 {latency['p50']:.1f} ms, p95 {latency['p95']:.1f} ms",
                  markup=False)  # fmt: skip


@app.command("show")
def show(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="The run (evalrun_...).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print its report as JSON.")] = False,
) -> None:
    """Print a run: status, counts, pass rate per criterion, report facts, failures."""

    async def work(berth: Berth) -> tuple[EvalRun, list[OutputItem], dict[str, Any] | None]:
        run, items = await _run_and_items(berth, run_id)
        return run, items, await berth.services.evals.report(None, run.eval_id, run.id)

    run, items, report = run_with_berth(ctx, work)
    if as_json:
        print_json(report)
        return
    _print_run(run, items, report)


def _percent(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.0%}"


def _print_comparison(a: EvalRun, b: EvalRun, found: Comparison) -> None:
    out.print(f"A {a.id} ({a.status.value}) against B {b.id} ({b.status.value}); "
              f"{found.compared} samples in both", markup=False)  # fmt: skip
    for change in found.criteria:
        delta = "-" if change.delta is None else f"{change.delta * 100:+.0f} points"
        out.print(f"  criterion {change.name}: A {_percent(change.rate_a)}, "
                  f"B {_percent(change.rate_b)}, {delta}", markup=False)  # fmt: skip
    if not found.samples:
        out.print("  no sample differs", markup=False)
    for sample in found.samples:
        out.print(f"  sample #{sample.index}: A {sample.status_a or 'missing'} "
                  f"{sample.output_a!r}, B {sample.status_b or 'missing'} {sample.output_b!r}",
                  markup=False)  # fmt: skip


@app.command("compare")
def compare_runs(
    ctx: typer.Context,
    run_a: Annotated[str, typer.Argument(help="The run to compare against.")],
    run_b: Annotated[str, typer.Argument(help="The run compared with it.")],
) -> None:
    """Print how run B differs from run A: pass rate per criterion, samples that changed."""

    async def work(berth: Berth) -> tuple[EvalRun, EvalRun, Comparison]:
        return await berth.services.evals.compare_runs(None, run_a, run_b)

    a, b, found = run_with_berth(ctx, work)
    _print_comparison(a, b, found)
