"""Transports: how the pool reaches a loaded model (a child process, or a thread in-process).

Both kinds run a :class:`~berth.pool.runnerthread.RunnerThread` and speak the messages of
:mod:`berth.pool.wire`; :class:`InFlight` is their shared parent-side bookkeeping, which routes
each message back to the batch it answers.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import Any, Protocol

from berth import errors
from berth.pool.batcher import Batch
from berth.pool.wire import (
    Cancel,
    Chunks,
    Done,
    Failed,
    LoadFailed,
    LoadOrder,
    LoadReport,
    Message,
    Ready,
    Work,
)

OnExit = Callable[[errors.ModelCrashed], None]
"""Called (on the event loop) when a model's process dies without being asked to."""


class Transport(Protocol):
    """One loaded model, as the pool sees it."""

    @property
    def pid(self) -> int | None:
        """The model process's id (None for the thread transport)."""
        ...

    async def open(self) -> LoadReport:
        """Start the runner and load the model; raises ModelLoadFailed (or ModelCorrupt)."""
        ...

    def send(self, batch: Batch) -> None:
        """Hand a batch to the model; it calls back into the batch when done."""
        ...

    def memory_bytes(self) -> int:
        """The bytes the model holds on its device now (see :mod:`berth.pool.device`)."""
        ...

    async def close(self) -> None:
        """Unload: let in-flight batches finish, close the runner, free its memory."""
        ...


class InFlight:
    """The batches a transport has sent and not yet heard back about."""

    def __init__(self) -> None:
        self._batches: dict[int, Batch] = {}
        self._ids = itertools.count()

    def __len__(self) -> int:
        return len(self._batches)

    def add(self, batch: Batch, cancel: Callable[[Cancel], None] | None = None) -> Work:
        """Track ``batch``; the work message to send for it. ``cancel`` sends the runner word
        that a streamed input's caller left."""
        batch_id = next(self._ids)
        self._batches[batch_id] = batch
        if cancel is not None and batch.stream:

            def cancelled(position: int) -> None:
                if batch_id in self._batches:
                    cancel(Cancel(batch_id, position))

            batch.on_cancel = cancelled
        return Work(batch_id, batch.stream, batch.items)

    def handle(self, message: Done | Failed | Chunks) -> None:
        """Route one runner message to its batch."""
        if isinstance(message, Chunks):
            batch = self._batches.get(message.batch_id)
            if batch is not None:
                for position, value in message.pairs:
                    batch.chunk(position, value)
            return
        batch = self._batches.pop(message.batch_id, None)
        if batch is None:
            return
        if isinstance(message, Done):
            batch.finish(message.outputs)
        else:
            batch.fail(message.error)

    def fail(self, batch_id: int, error: BaseException) -> None:
        """Fail one batch that could not be sent."""
        batch = self._batches.pop(batch_id, None)
        if batch is not None:
            batch.fail(error)

    def fail_all(self, error: BaseException) -> None:
        """Fail every batch still out (the model is gone)."""
        batches, self._batches = self._batches, {}
        for batch in batches.values():
            batch.fail(error)


def consume(future: asyncio.Future[Any]) -> None:
    """Mark a future's exception as seen (a done-callback for futures nobody may await)."""
    if not future.cancelled():
        future.exception()


def load_failed(order: LoadOrder, error: BaseException) -> errors.ModelError:
    """The error a caller sees when ``order``'s runner could not load its model (a file that
    does not match its sha256 stays ModelCorrupt)."""
    if isinstance(error, errors.ModelLoadFailed | errors.ModelCorrupt):
        return error
    spec = order.spec
    return errors.ModelLoadFailed(
        f"Model '{spec.alias}' could not be loaded by the '{spec.runner}' runner on "
        f"{order.device}: {type(error).__name__}: {error}. Check its files (source "
        f"{spec.source}) and its options in the catalog."
    )


def route(
    message: Message,
    loaded: asyncio.Future[LoadReport] | None,
    order: LoadOrder,
    in_flight: InFlight,
) -> None:
    """Hand a message from a model to whoever waits for it: the load, or a batch."""
    if not isinstance(message, Ready | LoadFailed):
        in_flight.handle(message)
    elif loaded is not None and not loaded.done():
        if isinstance(message, Ready):
            loaded.set_result(message.report)
        else:
            loaded.set_exception(load_failed(order, message.error))
