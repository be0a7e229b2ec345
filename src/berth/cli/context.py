"""What every command shares: the settings, output consoles, and running Berth for a command."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import typer
from rich.console import Console

from berth.app import Berth
from berth.settings import Settings

T = TypeVar("T")
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, highlight=False, soft_wrap=True)


@dataclass
class CliState:
    """Set by the top-level callback, read by commands through ``typer.Context.obj``."""

    settings: Settings


def settings_of(ctx: typer.Context) -> Settings:
    state: CliState = ctx.ensure_object(CliState)
    return state.settings


def run_with_berth(
    ctx: typer.Context, work: Callable[[Berth], Awaitable[T]], *, upgrade: bool = True
) -> T:
    """Open Berth from the command's settings, run ``work``, close it."""

    async def main() -> T:
        async with Berth(settings_of(ctx), upgrade=upgrade) as berth:
            return await work(berth)

    return asyncio.run(main())


def print_json(value: Any) -> None:
    out.print_json(json.dumps(value, default=str))
