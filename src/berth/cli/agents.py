"""``berth agents``: the registered tools, and golden replay of a recorded agent run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from berth.agents.replay import TurnReplay, read_trace, replay
from berth.app import Berth
from berth.cli.context import err, out, print_json, run_with_berth

app = typer.Typer(help="Agent tools and replays of agent runs.", no_args_is_help=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


@app.command("tools")
def list_tools(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """List the registered tools, their flags and their circuit breakers (an MCP server of
    BERTH_MCP_SERVERS that failed to load is named on stderr)."""

    async def work(berth: Berth) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        return berth.services.agents.tools(), berth.services.agents.sources()

    tools, sources = run_with_berth(ctx, work)
    for source in sources:
        if source["error"] or source["note"]:
            err.print(
                f"MCP server {source['name']}: {source['error'] or source['note']}", markup=False
            )
    if as_json:
        print_json(tools)
        return
    table = Table("NAME", "SOURCE", "TIMEOUT", "RETRIES", "IDEMPOTENT", "DESTRUCTIVE", "BREAKER")
    for tool in tools:
        table.add_row(
            str(tool["name"]),
            str(tool["source"]),
            f"{tool['timeout_s']:g} s",
            str(tool["retry_attempts"]),
            "yes" if tool["idempotent"] else "no",
            "yes" if tool["destructive"] else "no",
            str(tool["breaker"]),
        )
    out.print(table)


@app.command("replay")
def replay_trace(
    ctx: typer.Context,
    trace: Annotated[Path, typer.Argument(help="A trace.jsonl an agent job wrote.")],
    model: Annotated[
        str | None, typer.Option(help="The model to replay with [default: the recorded one].")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Re-run each recorded turn against the current model, with the tools stubbed from the
    trace, and show where the decisions diverge (exit code 1 if any turn does)."""
    lines = read_trace(trace)

    async def work(berth: Berth) -> list[TurnReplay]:
        return await replay(lines, berth.services.inference.for_jobs(), model)

    turns = run_with_berth(ctx, work)
    diverged = [t.turn for t in turns if not t.same]
    if as_json:
        print_json(
            {
                "turns": [
                    {"turn": t.turn, "same": t.same, "recorded": t.recorded, "now": t.now}
                    for t in turns
                ],
                "diverged": diverged,
            }
        )
    else:
        _table(turns, diverged)
    raise typer.Exit(1 if diverged else 0)


def _table(turns: list[TurnReplay], diverged: list[int]) -> None:
    table = Table("TURN", "SAME", "RECORDED", "NOW")
    for turn in turns:
        table.add_row(
            str(turn.turn),
            "yes" if turn.same else "NO",
            json.dumps(turn.recorded)[:200],
            json.dumps(turn.now)[:200],
        )
    out.print(table)
    first = f"first at turn {diverged[0]}" if diverged else "none"
    out.print(f"{len(turns)} turns replayed; {len(diverged)} diverged ({first}).", markup=False)
