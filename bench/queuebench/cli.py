"""``bench/queue.py``: parse the flags, measure every row, print the table and the JSON."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import sys
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import psycopg

from . import berth_queue, huey_queue, procrastinate_queue
from .machine import describe, load_average, versions
from .plan import Label, Plan
from .procedure import measure
from .report import (
    Outcome,
    ratios,
    result_json,
    table,
    target_json,
    target_lines,
    targets,
)
from .storage import Storage, fresh_storage, server_version
from .subject import Subject, SubjectFactory

FACTORIES: dict[str, SubjectFactory] = {
    "berth": berth_queue.open_subject,
    "huey": huey_queue.open_subject,
    "procrastinate": procrastinate_queue.open_subject,
}
DATABASES: dict[str, tuple[str, ...]] = {
    "berth": ("sqlite", "postgresql"),
    "huey": ("sqlite",),
    "procrastinate": ("postgresql",),
}
FULL = {"jobs": 3000, "burst": 200, "idle": 100}
QUICK = {"jobs": 300, "burst": 50, "idle": 20}
ROW_TIMEOUT_S = 300.0


def _names(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bench/queue.py",
        description="No-op job throughput and submit-to-start latency: Berth next to "
        "procrastinate (PostgreSQL) and huey (SQLite). See bench/README.md.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: 300, 50 and 20 jobs")
    parser.add_argument("--jobs", type=int, help="backlog jobs for throughput (3000)")
    parser.add_argument("--burst", type=int, help="jobs in the burst (200)")
    parser.add_argument("--idle", type=int, help="jobs submitted one at a time (100)")
    parser.add_argument("--idle-gap-ms", type=float, default=50.0, help="sleep before each")
    parser.add_argument("--concurrency", type=int, default=32, help="jobs per worker at once")
    parser.add_argument("--workers", default="1,2", help="worker process counts")
    parser.add_argument("--systems", default="berth,huey,procrastinate", help="which to run")
    parser.add_argument("--databases", default="sqlite,postgresql", help="which to use")
    parser.add_argument(
        "--postgres-url",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="where to create and drop the benchmark's databases",
    )
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds for the run")
    return parser


def _size(args: argparse.Namespace, name: str, full: int) -> int:
    given: int | None = getattr(args, name)
    if given is not None:
        return given
    return QUICK[name] if args.quick else full


def plan_from(args: argparse.Namespace) -> Plan:
    """The plan the flags describe."""
    return Plan(
        admin_url=args.postgres_url,
        jobs=_size(args, "jobs", FULL["jobs"]),
        burst=_size(args, "burst", FULL["burst"]),
        idle=_size(args, "idle", FULL["idle"]),
        idle_gap_s=args.idle_gap_ms / 1000.0,
        concurrency=args.concurrency,
        worker_counts=tuple(int(n) for n in _names(args.workers)),
        systems=_names(args.systems),
        databases=_names(args.databases),
    )


@contextlib.asynccontextmanager
async def _subject(label: Label, plan: Plan) -> AsyncIterator[tuple[Subject, Storage]]:
    async with (
        fresh_storage(label, plan.admin_url) as storage,
        FACTORIES[label.system](storage, plan) as subject,
    ):
        yield subject, storage


async def _measure_row(label: Label, plan: Plan) -> Outcome:
    started = time.monotonic()
    print(f"measuring {label} ...", file=sys.stderr, flush=True)
    try:
        async with asyncio.timeout(ROW_TIMEOUT_S), _subject(label, plan) as (subject, storage):
            figures = await measure(subject, label, storage, plan)
    except Exception as exc:
        print(f"  {label} failed: {exc!r}", file=sys.stderr, flush=True)
        return Outcome(label, error=f"{type(exc).__name__}: {exc}")
    spent = time.monotonic() - started
    print(f"  {figures.jobs_per_s:.0f} jobs/s ({spent:.0f} s)", file=sys.stderr, flush=True)
    return Outcome(label, figures)


async def _measure_all(plan: Plan, limit_s: float) -> list[Outcome]:
    deadline = time.monotonic() + limit_s
    outcomes = []
    for label in plan.labels(DATABASES):
        if time.monotonic() > deadline:
            outcomes.append(Outcome(label, error=f"skipped: the run's {limit_s:g} s ran out"))
            continue
        outcomes.append(await _measure_row(label, plan))
    return outcomes


@dataclass(frozen=True, slots=True)
class Context:
    """What is recorded about the run before it starts."""

    date: str
    load: float
    versions: dict[str, str]

    @classmethod
    async def now(cls, plan: Plan) -> Context:
        postgres = "not used"
        if "postgresql" in plan.databases:
            postgres = await server_version(plan.admin_url)
        date = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        return cls(date, load_average(), versions(postgres))


def _summary(plan: Plan, outcomes: list[Outcome], context: Context, argv: Sequence[str]) -> Any:
    settings = asdict(plan)
    settings.pop("admin_url")
    return {
        "benchmark": "bench/queue.py",
        "command": " ".join([".venv/bin/python bench/queue.py", *argv]),
        "date": context.date,
        "machine": describe() | {"load_before": context.load, "load_after": load_average()},
        "versions": context.versions,
        "settings": settings,
        "results": [result_json(outcome) for outcome in outcomes],
        "ratios_berth_over_peer": ratios(outcomes),
        "targets": [target_json(target) for target in targets(outcomes)],
    }


def _machine_line(summary: Any) -> str:
    machine, revision = summary["machine"], summary["versions"]["berth_revision"]
    return (
        f"{summary['date']}  berth {revision}  {machine['cores']} cores, "
        f"{machine['memory_gib']} GiB, {machine['cpu']}, python {machine['python']}, "
        f"load {machine['load_before']} -> {machine['load_after']}"
    )


async def _run(plan: Plan, argv: Sequence[str], limit_s: float) -> int:
    try:
        context = await Context.now(plan)
    except psycopg.OperationalError as exc:
        print(f"Cannot reach PostgreSQL at {plan.admin_url}: {exc}", file=sys.stderr)
        return 2
    outcomes = await _measure_all(plan, limit_s)
    summary = _summary(plan, outcomes, context, argv)
    print(table(outcomes))
    print(target_lines(targets(outcomes)))
    print(_machine_line(summary))
    print(json.dumps(summary))
    return 1 if any(outcome.error for outcome in outcomes) else 0


def run(argv: Sequence[str]) -> int:
    """Run the benchmark; 0 if every row was measured."""
    args = _parser().parse_args(argv)
    plan = plan_from(args)
    unknown = set(plan.systems) - set(FACTORIES)
    if unknown:
        print(f"Unknown systems: {', '.join(sorted(unknown))}.", file=sys.stderr)
        return 2
    return asyncio.run(_run(plan, argv, args.timeout))
