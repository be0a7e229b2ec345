"""The thread transport: the runner in this process, on one dedicated thread.

For tests and tiny models. It shares the server's memory, so unloading frees only what the
runner's ``close`` releases, and a runner that crashes the interpreter takes the server down.
"""

from __future__ import annotations

import asyncio
import contextlib

from berth import errors
from berth.pool.batcher import Batch
from berth.pool.runnerthread import RunnerThread
from berth.pool.transport import InFlight, consume, route
from berth.pool.wire import LoadOrder, LoadReport, Message

JOIN_SECONDS = 30.0


class ThreadTransport:
    """A model served by a :class:`RunnerThread` of this process."""

    def __init__(self, order: LoadOrder) -> None:
        self._order = order
        self._in_flight = InFlight()
        self._report: LoadReport | None = None
        self._loaded: asyncio.Future[LoadReport] | None = None
        self._thread: RunnerThread | None = None

    @property
    def pid(self) -> int | None:
        return None

    async def open(self) -> LoadReport:
        loop = asyncio.get_running_loop()
        self._loaded = loop.create_future()
        self._loaded.add_done_callback(consume)

        def emit(message: Message) -> None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._receive, message)

        self._thread = RunnerThread(self._order, emit)
        self._thread.start()
        try:
            self._report = await asyncio.shield(self._loaded)
        except asyncio.CancelledError:
            self._thread.stop()
            raise
        return self._report

    def send(self, batch: Batch) -> None:
        if self._thread is None:
            batch.fail(errors.PoolClosed(f"Model '{self._order.spec.alias}' is not loaded."))
            return
        self._thread.submit(self._in_flight.add(batch, self._thread.cancel))

    def memory_bytes(self) -> int:
        report = self._report
        if report is None:
            return 0
        if report.runner_bytes is not None:
            return report.runner_bytes
        if report.cuda_reserved is not None:
            return report.cuda_reserved
        return report.rss_growth

    async def close(self) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        thread.stop()
        await asyncio.to_thread(thread.join, JOIN_SECONDS)
        self._in_flight.fail_all(
            errors.PoolClosed(f"Model '{self._order.spec.alias}' was unloaded.")
        )

    def _receive(self, message: Message) -> None:
        route(message, self._loaded, self._order, self._in_flight)
