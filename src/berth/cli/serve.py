"""``berth serve`` and ``berth worker``: run the dispatcher and the model pool until SIGTERM
or Ctrl-C, reporting the pool's loaded models to the job store."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Annotated

import typer

from berth.app import Berth
from berth.cli.context import settings_of
from berth.jobs.dispatcher import Dispatcher
from berth.settings import Settings

log = logging.getLogger("berth.cli")

ConcurrencyOption = Annotated[
    int | None, typer.Option(min=1, help="Jobs run at once [env: BERTH_CONCURRENCY]")
]


def _install_signals(dispatcher: Dispatcher) -> None:
    """First SIGTERM/SIGINT drains; a second SIGINT gives running jobs back at once."""
    loop = asyncio.get_running_loop()
    signals = {"count": 0}

    def on_signal(signum: int) -> None:
        signals["count"] += 1
        name = signal.Signals(signum).name
        if signals["count"] == 1:
            log.info(
                "stopping: running jobs get the drain period to finish (again to stop now)",
                extra={"action": "dispatcher.signal", "signal": name},
            )
            dispatcher.stop()
        else:
            log.info("stopping now", extra={"action": "dispatcher.signal", "signal": name})
            dispatcher.stop_now()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)


async def _run_dispatcher(settings: Settings) -> None:
    async with Berth(settings) as berth:
        dispatcher = berth.dispatcher()
        _install_signals(dispatcher)
        await dispatcher.start()
        async with berth.reporter(dispatcher.worker_id):
            await dispatcher.wait()


def _settings(ctx: typer.Context, concurrency: int | None) -> Settings:
    settings = settings_of(ctx)
    if concurrency is not None:
        settings = settings.model_copy(update={"concurrency": concurrency})
    return settings


def serve(ctx: typer.Context, concurrency: ConcurrencyOption = None) -> None:
    """Run Berth on this machine: the job store and a dispatcher (the HTTP API comes later)."""
    asyncio.run(_run_dispatcher(_settings(ctx, concurrency)))


def worker(ctx: typer.Context, concurrency: ConcurrencyOption = None) -> None:
    """Run only a dispatcher: one more host working on a shared PostgreSQL job store."""
    asyncio.run(_run_dispatcher(_settings(ctx, concurrency)))
