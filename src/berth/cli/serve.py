"""``berth serve`` (HTTP API, dispatcher and model pool in one process) and ``berth worker``
(dispatcher and pool only), until SIGTERM or Ctrl-C; both report loaded models to the store."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Generator
from typing import Annotated

import typer
import uvicorn

from berth.app import Berth
from berth.cli.context import settings_of
from berth.jobs.dispatcher import Dispatcher
from berth.settings import Settings
from berth.site import create_app

log = logging.getLogger("berth.cli")

ConcurrencyOption = Annotated[
    int | None, typer.Option(min=1, help="Jobs run at once [env: BERTH_CONCURRENCY]")
]


class HttpServer(uvicorn.Server):
    """uvicorn without signal handling of its own: ``berth serve`` owns SIGTERM and SIGINT,
    so that the HTTP server and the dispatcher stop together."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class Stopper:
    """First SIGTERM/SIGINT drains; a second SIGINT stops at once (jobs go back to the queue)."""

    def __init__(self, dispatcher: Dispatcher, server: HttpServer | None = None) -> None:
        self.dispatcher = dispatcher
        self.server = server
        self.signals = 0

    def install(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.on_signal, signum)

    def on_signal(self, signum: int) -> None:
        self.signals += 1
        name = signal.Signals(signum).name
        if self.signals == 1:
            log.info(
                "stopping: running jobs get the drain period to finish (again to stop now)",
                extra={"action": "serve.signal", "signal": name},
            )
            self.dispatcher.stop()
            if self.server is not None:
                self.server.should_exit = True
        else:
            log.info("stopping now", extra={"action": "serve.signal", "signal": name})
            self.dispatcher.stop_now()
            if self.server is not None:
                self.server.force_exit = True


async def _run_worker(settings: Settings) -> None:
    async with Berth(settings) as berth:
        dispatcher = berth.dispatcher()
        Stopper(dispatcher).install()
        await dispatcher.start()
        async with berth.reporter(dispatcher.worker_id):
            await dispatcher.wait()


async def _run_server(settings: Settings) -> None:
    async with Berth(settings) as berth:
        dispatcher = berth.dispatcher()
        app = create_app(berth)
        config = uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=int(settings.drain_seconds),
        )
        server = HttpServer(config)
        Stopper(dispatcher, server).install()
        await dispatcher.start()
        log.info(
            "serving",
            extra={"action": "serve.started", "url": f"http://{settings.host}:{settings.port}"},
        )
        async with berth.reporter(dispatcher.worker_id):
            await asyncio.gather(server.serve(), dispatcher.wait())


def _settings(ctx: typer.Context, concurrency: int | None) -> Settings:
    settings = settings_of(ctx)
    if concurrency is not None:
        settings = settings.model_copy(update={"concurrency": concurrency})
    return settings


def serve(
    ctx: typer.Context,
    concurrency: ConcurrencyOption = None,
    host: Annotated[str | None, typer.Option(help="Listen address [env: BERTH_HOST]")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port [env: BERTH_PORT]")] = None,
) -> None:
    """Run Berth on this machine: the HTTP API, the dispatcher and the model pool."""
    settings = _settings(ctx, concurrency)
    overrides = {key: value for key, value in (("host", host), ("port", port)) if value}
    asyncio.run(_run_server(settings.model_copy(update=overrides)))


def worker(ctx: typer.Context, concurrency: ConcurrencyOption = None) -> None:
    """Run only a dispatcher: one more host working on a shared PostgreSQL job store."""
    asyncio.run(_run_worker(_settings(ctx, concurrency)))
