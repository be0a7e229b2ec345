"""``berth``: the top-level command, global options, and turning errors into one line."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import pydantic
import typer
from rich.markup import escape

from berth import __version__, errors
from berth.cli import agents, db, evals, jobs, keys, models, run, serve
from berth.cli.context import CliState, err
from berth.cli.logs import LogFormat, configure
from berth.settings import Settings

app = typer.Typer(
    name="berth",
    help="Berth: a self-hosted runtime for AI models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(jobs.app, name="jobs")
app.add_typer(db.app, name="db")
app.add_typer(keys.app, name="keys")
app.add_typer(models.app, name="models")
app.add_typer(agents.app, name="agents")
app.add_typer(evals.app, name="evals")
app.command("serve")(serve.serve)
app.command("worker")(serve.worker)
app.command("run")(run.run)


def _version(value: bool) -> None:
    if value:
        print(f"berth {__version__}")
        raise typer.Exit()


def load_settings(overrides: dict[str, Any]) -> Settings:
    """Settings from the environment, with the command line's options on top."""
    try:
        return Settings(**{key: value for key, value in overrides.items() if value is not None})
    except pydantic.ValidationError as exc:
        problems = "; ".join(
            f"BERTH_{'_'.join(str(p) for p in e['loc']).upper() or 'SETTINGS'}: {e['msg']}"
            for e in exc.errors(include_url=False)
        )
        raise errors.ConfigError(f"Invalid settings: {problems}.") from None


@app.callback()
def main_options(
    ctx: typer.Context,
    home: Annotated[
        Path | None, typer.Option(help="Berth's home folder [env: BERTH_HOME; default: .berth]")
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(help="Job store URL [env: BERTH_DATABASE_URL; default: SQLite in home]"),
    ] = None,
    log_format: Annotated[str, typer.Option(help="human or json")] = "human",
    log_level: Annotated[str | None, typer.Option(help="debug, info, warning or error")] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """Berth: serve local models, run durable jobs, see what runs."""
    if log_format not in ("human", "json"):
        raise errors.ConfigError(f"--log-format must be 'human' or 'json', not '{log_format}'.")
    settings = load_settings({"home": home, "database_url": database_url, "log_level": log_level})
    fmt: LogFormat = "json" if log_format == "json" else "human"
    chatty = ctx.invoked_subcommand in ("serve", "worker", "db")
    configure(settings.log_level or ("info" if chatty else "warning"), fmt)
    ctx.obj = CliState(settings)


def main() -> None:
    """Entry point of the ``berth`` command: Berth's errors become one line and exit 1."""
    try:
        app()
    except errors.BerthError as exc:
        err.print(f"[bold red]Error:[/] {escape(exc.message)}")
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
