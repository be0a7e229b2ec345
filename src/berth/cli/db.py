"""``berth db``: the job store's schema."""

from __future__ import annotations

import typer

from berth.cli.context import out, settings_of
from berth.db.stores import upgrade_database

app = typer.Typer(help="Manage the job store's database.", no_args_is_help=True)


@app.command()
def upgrade(ctx: typer.Context) -> None:
    """Migrate the database to this Berth's schema (Berth also does this on every start)."""
    settings = settings_of(ctx)
    settings.home.mkdir(parents=True, exist_ok=True)
    before, after = upgrade_database(settings.resolved_database_url)
    if before == after:
        out.print(f"The job store is up to date (schema revision {after}).")
    else:
        out.print(f"Upgraded the job store from revision {before or '(empty)'} to {after}.")
