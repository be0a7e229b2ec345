"""The reporter: tells the job store which models this worker's pool holds.

It reports every ``every`` seconds and soon after each load, unload or pin, so that
`berth models ps` and the claim query (which prefers hosts that hold a job's model) see it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, Protocol, Self

from berth.pool.pool import ModelPool

log = logging.getLogger(__name__)


class ModelReports(Protocol):
    """Where reports go (the job store)."""

    async def report_models(self, worker_id: str, models: Sequence[Mapping[str, Any]]) -> None:
        """Record which models ``worker_id`` holds."""
        ...


class Reporter:
    """``async with Reporter(pool, store, worker_id):`` reports while the block runs."""

    def __init__(
        self, pool: ModelPool, sink: ModelReports, worker_id: str, every: float = 5.0
    ) -> None:
        self._pool = pool
        self._sink = sink
        self._worker_id = worker_id
        self._every = every
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        self._task = asyncio.create_task(self._loop(), name="berth-pool-reporter")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def report(self) -> None:
        """Report once now; a failure is logged, and the next report tries again."""
        try:
            await self._sink.report_models(self._worker_id, self._pool.describe())
        except Exception as exc:
            log.warning(
                "could not report the loaded models",
                extra={"action": "pool.report_failed", "error": str(exc)},
            )

    async def _loop(self) -> None:
        while True:
            await self.report()
            await self._pool.wait_changed(self._every)
