"""``berth keys``: create, list and revoke API keys."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import typer
from rich.table import Table

from berth.app import Berth
from berth.cli.context import err, out, print_json, run_with_berth
from berth.keys.key import ApiKey, parse_rate
from berth.services.keys import CreatedKey, KeyService

app = typer.Typer(help="Manage API keys for the HTTP API.", no_args_is_help=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _service(berth: Berth) -> KeyService:
    return berth.services.keys


def _iso(moment: float | None) -> str | None:
    if moment is None:
        return None
    return dt.datetime.fromtimestamp(moment, dt.UTC).isoformat(timespec="seconds")


def _short(moment: float | None) -> str:
    if moment is None:
        return "-"
    return dt.datetime.fromtimestamp(moment, dt.UTC).strftime("%Y-%m-%d %H:%MZ")


def key_json(key: ApiKey) -> dict[str, Any]:
    """A key as ``--json`` prints it: everything but the secret's hash."""
    return {
        "id": key.id,
        "name": key.name,
        "prefix": key.prefix,
        "scopes": sorted(key.scopes),
        "models": list(key.models) if key.models is not None else None,
        "rate_per_minute": key.rate_per_minute,
        "max_jobs": key.max_jobs,
        "created_at": _iso(key.created_at),
        "last_used_at": _iso(key.last_used_at),
        "revoked_at": _iso(key.revoked_at),
    }


@app.command()
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Option(help="A name to tell the key by, e.g. ci or alice.")],
    scopes: Annotated[
        str, typer.Option(help="What it may reach, comma-separated: infer, jobs, admin.")
    ],
    models: Annotated[
        str | None, typer.Option(help="Only these model aliases, comma-separated [default: all].")
    ] = None,
    rate: Annotated[
        str | None, typer.Option(help="Most requests per minute, as N/min [default: no limit].")
    ] = None,
    max_jobs: Annotated[
        int | None, typer.Option(help="Most jobs queued or running at once [default: no limit].")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create a key and print its secret, once: Berth keeps only a hash of it."""
    per_minute = parse_rate(rate)

    async def work(berth: Berth) -> CreatedKey:
        return await _service(berth).create(
            name,
            [scopes],
            models=[models] if models is not None else None,
            rate_per_minute=per_minute,
            max_jobs=max_jobs,
        )

    created = run_with_berth(ctx, work)
    if as_json:
        print_json({**key_json(created.key), "secret": created.secret})
    else:
        out.print(created.secret, markup=False)
    err.print(
        f"Created API key {created.key.id} ({created.key.name}). Store the secret now: "
        "Berth keeps only its hash and cannot show it again.",
        markup=False,
    )


@app.command("ls")
def list_keys(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """List keys, oldest first, revoked ones included."""
    keys = run_with_berth(ctx, lambda berth: _service(berth).list_keys())
    if as_json:
        print_json([key_json(key) for key in keys])
        return
    table = Table(
        "ID",
        "NAME",
        "PREFIX",
        "SCOPES",
        "MODELS",
        "RATE",
        "MAX JOBS",
        "CREATED",
        "LAST USED",
        "REVOKED",
    )
    for key in keys:
        table.add_row(
            key.id,
            key.name,
            key.prefix,
            ",".join(sorted(key.scopes)),
            ",".join(key.models) if key.models is not None else "all",
            f"{key.rate_per_minute}/min" if key.rate_per_minute is not None else "-",
            str(key.max_jobs) if key.max_jobs is not None else "-",
            _short(key.created_at),
            _short(key.last_used_at),
            _short(key.revoked_at),
        )
    out.print(table)
    if not keys:
        err.print("No API keys yet. Create one with `berth keys create`.", markup=False)


@app.command()
def revoke(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="The key's id or name.")],
) -> None:
    """Revoke a key: requests with it are refused from now on, on every host."""
    revoked, changed = run_with_berth(ctx, lambda berth: _service(berth).revoke(key))
    if changed:
        out.print(f"Revoked {revoked.id} ({revoked.name}).", markup=False)
    else:
        out.print(f"Key {revoked.id} ({revoked.name}) was already revoked.", markup=False)
