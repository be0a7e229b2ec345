"""The runner thread: loads one model and runs its batches, in order, on one thread.

The same code serves both transports: in a model process it reports over the pipe; in the
thread transport it reports to the event loop. Every call into the runner (load, run,
stream, memory_bytes, close) happens on this one thread, under a network guard of the
thread when Berth is offline (a model process also has one for the whole process).

A :class:`~berth.runners.contract.ContinuousRunner` works continuously
(:mod:`berth.pool.continuous`): while it streams, work queued behind joins it between steps
(as the runner has room), so a request that arrives mid-stream starts within a step. Work
that does not stream joins too: its inputs' last chunks are its outputs. The stop waits for
the stream to drain.

A :class:`~berth.runners.contract.StagedRunner`, and any runner with several ``workers``, is
served by :mod:`berth.pool.staged`: a preparing thread (guarded the same way) prepares and
cuts each batch while the one before runs, and the workers run the parts at once.

The queue of work and the cancelled inputs (:mod:`berth.pool.inbox`) are the thread's state,
handed explicitly to whichever of these serves it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable

from berth import errors
from berth.models.offline import NetworkGuard
from berth.pool import device as devices
from berth.pool.continuous import ContinuousStream
from berth.pool.inbox import Cancellations, Inbox
from berth.pool.staged import StagedServer, unchanged
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
from berth.pool.workers import cores, resolve, set_budget
from berth.runners.contract import ContinuousRunner, Runner, StagedRunner, StreamingRunner

log = logging.getLogger(__name__)
Emit = Callable[[Message], None]


class RunnerThread:
    """Owns one runner: ``start()`` loads it, ``submit()`` queues work, ``stop()`` closes it."""

    def __init__(self, order: LoadOrder, emit: Emit) -> None:
        self._order = order
        self._emit = emit
        self._inbox = Inbox()
        self._cancelled = Cancellations()
        self._workers = 1
        """Workers that run the model's parts, once it has loaded (see _resolve_workers)."""
        self._thread = threading.Thread(
            target=self._main, name=f"berth-model-{order.spec.alias}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def submit(self, work: Work) -> None:
        self._inbox.put(work)

    def cancel(self, message: Cancel) -> None:
        """A streamed input's caller left: its runner may stop working on it."""
        self._cancelled.add(message.batch_id, message.position)

    def stop(self) -> None:
        """Close the runner once the work queued before this call is done."""
        self._inbox.put(None)

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
        set_budget(self._order.spec.options.cpu_threads, self._order.device)
        try:
            if isinstance(runner, StagedRunner):
                self._staged().serve(runner, runner.prepare, runner.run_prepared)
            elif self._workers > 1:
                self._staged().serve(runner, unchanged, runner.run)
            else:
                while (work := self._inbox.next()) is not None:
                    if work.stream and isinstance(runner, ContinuousRunner):
                        stream = ContinuousStream(
                            runner, work, self._inbox, self._cancelled, self._emit
                        )
                        stream.serve()
                    else:
                        self._do(runner, work)
        finally:
            self._close(runner)

    def _staged(self) -> StagedServer:
        return StagedServer(
            name=self._order.spec.alias,
            inbox=self._inbox,
            emit=self._emit,
            guard=self._guard,
            workers=self._workers,
            math_budget=self._math_budget(),
            device=self._order.device,
            run_whole=self._do,
        )

    def _math_budget(self) -> int:
        threads = self._order.spec.options.cpu_threads
        return threads if threads is not None else cores()

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
            self._workers = self._resolve_workers(runner)
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

    def _resolve_workers(self, runner: Runner) -> int:
        """The model's workers (:func:`berth.pool.workers.resolve`); ModelLoadFailed if it asks
        for several and its runner cannot run parts of a batch at once."""
        order = self._order
        requested = order.spec.options.workers
        concurrent = getattr(runner, "concurrent", False) and not isinstance(
            runner, ContinuousRunner
        )
        if requested is not None and requested > 1 and not concurrent:
            raise errors.ModelLoadFailed(
                f"Model '{order.spec.alias}' asks for {requested} workers, but the "
                f"'{order.spec.runner}' runner runs one batch at a time. Set workers = 1 "
                "in its catalog entry, or leave it out."
            )
        return resolve(requested, concurrent, order.device, self._math_budget())

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
            for item in chunks:
                pairs = item if isinstance(item, list) else [item]
                live = [pair for pair in pairs if not cancelled(pair[0])]
                if live:
                    self._emit(Chunks(batch_id, live))
                elif all(cancelled(i) for i in range(size)):
                    break
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
            self._cancelled.forget(batch_id)
        self._emit(Done(batch_id, None))
