"""The runner thread: loads one model and runs its batches, in order, on one thread.

The same code serves both transports: in a model process it reports over the pipe; in the
thread transport it reports to the event loop. Every call into the runner (load, run,
stream, memory_bytes, close) happens on this one thread, under a network guard of the
thread when Berth is offline (a model process also has one for the whole process).

A :class:`~berth.runners.contract.StagedRunner` gets a second, preparing thread (guarded the
same way): it takes the queued work in order and calls ``prepare`` on each batch, so batch
N+1 is tokenized while batch N runs on the model; the runner thread then calls
``run_prepared``. Streamed batches pass through it unprepared, in their place.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from berth.models.offline import NetworkGuard
from berth.pool import device as devices
from berth.pool.wire import (
    Cancel,
    Chunk,
    Done,
    Failed,
    LoadFailed,
    LoadOrder,
    LoadReport,
    Message,
    Ready,
    Work,
)
from berth.runners.contract import Runner, StagedRunner, StreamingRunner

log = logging.getLogger(__name__)
Emit = Callable[[Message], None]


class _Unprepared(NamedTuple):
    """A batch whose ``prepare`` raised: it fails without reaching the model."""

    error: Exception


Prepared = tuple[Work, Any]
"""A work item with what ``prepare`` made of it (None for a stream, :class:`_Unprepared`
when it raised)."""


class RunnerThread:
    """Owns one runner: ``start()`` loads it, ``submit()`` queues work, ``stop()`` closes it."""

    def __init__(self, order: LoadOrder, emit: Emit) -> None:
        self._order = order
        self._emit = emit
        self._work: queue.SimpleQueue[Work | None] = queue.SimpleQueue()
        self._cancelled: set[tuple[int, int]] = set()
        """``(batch id, position)`` of streamed inputs whose callers left (any thread adds;
        set operations are atomic under the GIL)."""
        self._thread = threading.Thread(
            target=self._main, name=f"berth-model-{order.spec.alias}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def submit(self, work: Work) -> None:
        self._work.put(work)

    def cancel(self, message: Cancel) -> None:
        """A streamed input's caller left: its runner may stop working on it."""
        self._cancelled.add((message.batch_id, message.position))

    def stop(self) -> None:
        """Close the runner once the work queued before this call is done."""
        self._work.put(None)

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread to end; True if it has."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _guard(self) -> contextlib.AbstractContextManager[object]:
        return NetworkGuard(scope="thread") if self._order.offline else contextlib.nullcontext()

    def _main(self) -> None:
        with self._guard():
            self._serve()

    def _serve(self) -> None:
        runner = self._load()
        if runner is None:
            return
        try:
            if isinstance(runner, StagedRunner):
                self._serve_staged(runner)
            else:
                while (work := self._work.get()) is not None:
                    self._do(runner, work)
        finally:
            self._close(runner)

    def _serve_staged(self, runner: StagedRunner) -> None:
        ready: queue.Queue[Prepared | None] = queue.Queue(maxsize=1)
        preparer = threading.Thread(
            target=self._prepare_all,
            args=(runner, ready),
            name=f"berth-prepare-{self._order.spec.alias}",
            daemon=True,
        )
        preparer.start()
        while (item := ready.get()) is not None:
            work, prepared = item
            if work.stream:
                self._do(runner, work)
            elif isinstance(prepared, _Unprepared):
                self._emit(Failed(work.batch_id, prepared.error))
            else:
                self._run_prepared(runner, work, prepared)
        preparer.join()

    def _prepare_all(self, runner: StagedRunner, ready: queue.Queue[Prepared | None]) -> None:
        """The preparing thread: queued work, prepared in order, to the runner thread."""
        with self._guard():
            while (work := self._work.get()) is not None:
                prepared: Any = None
                if not work.stream:
                    try:
                        prepared = runner.prepare(work.items)
                    except Exception as exc:
                        prepared = _Unprepared(exc)
                ready.put((work, prepared))
        ready.put(None)

    def _run_prepared(self, runner: StagedRunner, work: Work, prepared: Any) -> None:
        try:
            self._emit(Done(work.batch_id, runner.run_prepared(prepared)))
        except Exception as exc:
            self._emit(Failed(work.batch_id, exc))

    def _close(self, runner: Runner) -> None:
        try:
            runner.close()
        except Exception:
            log.exception(
                "runner close failed",
                extra={"action": "runner.close_failed", "model": self._order.spec.alias},
            )

    def _load(self) -> Runner | None:
        order = self._order
        started = time.perf_counter()
        before = devices.process_rss(os.getpid()) or 0
        runner: Runner | None = None
        try:
            runner = order.create()
            runner.load(order.spec, order.path, order.device)
            report = LoadReport(
                seconds=time.perf_counter() - started,
                runner_bytes=runner.memory_bytes(),
                cuda_reserved=devices.cuda_reserved(order.device),
                rss_growth=max(0, (devices.process_rss(os.getpid()) or 0) - before),
            )
        except BaseException as exc:
            if runner is not None:
                self._close(runner)
            self._emit(LoadFailed(exc))
            return None
        self._emit(Ready(report))
        return runner

    def _do(self, runner: Runner, work: Work) -> None:
        try:
            if work.stream:
                self._stream(runner, work)
            else:
                self._emit(Done(work.batch_id, runner.run(work.items)))
        except Exception as exc:
            self._emit(Failed(work.batch_id, exc))

    def _stream(self, runner: Runner, work: Work) -> None:
        if not isinstance(runner, StreamingRunner):
            raise TypeError(f"the runner of '{self._order.spec.alias}' cannot stream")
        batch_id, size = work.batch_id, len(work.items)

        def cancelled(index: int) -> bool:
            return (batch_id, index) in self._cancelled

        chunks = runner.stream(work.items, cancelled)
        try:
            for index, value in chunks:
                if not cancelled(index):
                    self._emit(Chunk(batch_id, index, value))
                elif all(cancelled(i) for i in range(size)):
                    break
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
            self._cancelled.difference_update({(batch_id, i) for i in range(size)})
        self._emit(Done(batch_id, None))
