"""The runner thread: loads one model and runs its batches, in order, on one thread.

The same code serves both transports: in a model process it reports over the pipe; in the
thread transport it reports to the event loop. Every call into the runner (load, run,
stream, memory_bytes, close) happens on this one thread, under a network guard of the
thread when Berth is offline (a model process also has one for the whole process).

A :class:`~berth.runners.contract.ContinuousRunner` works continuously: while it streams,
work queued behind joins it between steps (as the runner has room), so a request that
arrives mid-stream starts within a step. Work that does not stream joins too: its inputs'
last chunks are its outputs. The stop waits for the stream to drain.

A :class:`~berth.runners.contract.StagedRunner` gets a second, preparing thread (guarded the
same way): it takes the queued work in order and calls ``prepare`` on each batch, so batch
N+1 is tokenized while batch N runs on the model; the runner thread then calls
``run_prepared``. Streamed batches pass through it unprepared, in their place.

With several ``workers`` (runners that say they are ``concurrent``; see
:mod:`berth.pool.workers`), the preparing thread cuts each batch into parts, one per worker,
and that many threads run the parts at once; a runner without a preparing stage gets a
preparing thread that only cuts.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from berth import errors
from berth.models.offline import NetworkGuard
from berth.pool import device as devices
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
from berth.pool.workers import Handoff, MathThreads, Whole, cores, parts, resolve, set_budget
from berth.runners.contract import (
    END,
    ContinuousRunner,
    Runner,
    StagedRunner,
    StreamingRunner,
)

log = logging.getLogger(__name__)
Emit = Callable[[Message], None]


class _Unprepared(NamedTuple):
    """A batch whose ``prepare`` raised: it fails without reaching the model."""

    error: Exception


Part = tuple[Work, Any, "Whole | None", int]
"""A part of a batch for a worker: the work, what ``prepare`` made of its inputs
(:class:`_Unprepared` when it raised), the batch it belongs to and the index of its first
input; a stream goes whole, as ``(work, None, None, 0)``."""
Prepare = Callable[[Sequence[Any]], Any]
Run = Callable[[Any], list[Any]]


def _prepare(prepare: Prepare, items: Sequence[Any]) -> Any:
    try:
        return prepare(items)
    except Exception as exc:
        return _Unprepared(exc)


def _unchanged(items: Sequence[Any]) -> Sequence[Any]:
    """``prepare`` for a runner that has no preparing stage."""
    return items


class RunnerThread:
    """Owns one runner: ``start()`` loads it, ``submit()`` queues work, ``stop()`` closes it."""

    def __init__(self, order: LoadOrder, emit: Emit) -> None:
        self._order = order
        self._emit = emit
        self._work: queue.SimpleQueue[Work | None] = queue.SimpleQueue()
        self._ahead: collections.deque[Work | None] = collections.deque()
        """Work taken off the queue during a continuous stream but not admitted to it (the
        runner thread's own; it comes before anything still queued)."""
        self._cancelled: set[tuple[int, int]] = set()
        """``(batch id, position)`` of streamed inputs whose callers left (any thread adds;
        set operations are atomic under the GIL)."""
        self._workers = 1
        """Workers that run the model's parts, once it has loaded (see _resolve_workers)."""
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
        set_budget(self._order.spec.options.cpu_threads, self._order.device)
        try:
            if isinstance(runner, StagedRunner):
                self._serve_staged(runner, runner.prepare, runner.run_prepared)
            elif self._workers > 1:
                self._serve_staged(runner, _unchanged, runner.run)
            else:
                while (work := self._next()) is not None:
                    if work.stream and isinstance(runner, ContinuousRunner):
                        _Continuous(self, runner, work).serve()
                    else:
                        self._do(runner, work)
        finally:
            self._close(runner)

    def _together(self, target: Callable[[bool], None]) -> None:
        """Run ``target`` on this thread, the lead (``target(True)``), and on ``workers - 1``
        more (``target(False)``), until all return."""
        alias = self._order.spec.alias

        def guarded() -> None:
            with self._guard():
                target(False)

        others = [
            threading.Thread(target=guarded, name=f"berth-model-{alias}-{n}", daemon=True)
            for n in range(1, self._workers)
        ]
        for thread in others:
            thread.start()
        target(True)
        for thread in others:
            thread.join()

    def _next(self) -> Work | None:
        return self._ahead.popleft() if self._ahead else self._work.get()

    def _poll(self) -> Work | _Nothing | None:
        """The next work if there is some now, without waiting."""
        if self._ahead:
            return self._ahead.popleft()
        try:
            return self._work.get_nowait()
        except queue.Empty:
            return NOTHING

    def _serve_staged(self, runner: Runner, prepare: Prepare, run: Run) -> None:
        """Batches go through ``prepare`` on the preparing thread, a part per worker (see
        :mod:`berth.pool.workers`), then through ``run`` on the workers."""
        ready: Handoff[Part | None] = Handoff(limit=self._workers)
        first = ready.claim(lead=True)  # before any part can come: the first goes to the lead
        preparer = threading.Thread(
            target=self._prepare_all,
            args=(prepare, ready),
            name=f"berth-prepare-{self._order.spec.alias}",
            daemon=True,
        )
        preparer.start()
        threads = MathThreads(self._math_budget(), self._workers, self._order.device)

        def consume(lead: bool) -> None:
            slot = first if lead else ready.claim()
            while (part := slot.wait()) is not None:
                work, prepared, whole, start = part
                if whole is None:
                    self._do(runner, work)  # a stream, whole
                    slot = ready.claim(lead=lead)
                    continue
                outputs: Any = prepared.error if isinstance(prepared, _Unprepared) else None
                if outputs is None:
                    threads.enter(waiting=ready.qsize(), siblings=whole.parts, lead=lead)
                    try:
                        outputs = run(prepared)
                    except Exception as exc:
                        outputs = exc
                    finally:
                        threads.leave()
                slot = ready.claim(lead=lead)  # before the answer goes out (see claim)
                whole.finish(start, outputs)
            ready.put(None)  # the next worker stops too

        self._together(consume)
        preparer.join()

    def _prepare_all(self, prepare: Prepare, ready: Handoff[Part | None]) -> None:
        """The preparing thread: queued work, prepared in order, a part at a time."""
        with self._guard():
            while (work := self._work.get()) is not None:
                if work.stream:
                    ready.put((work, None, None, 0))
                    continue
                bounds = parts(len(work.items), self._workers)
                whole = Whole(len(work.items), len(bounds), self._answer(work.batch_id))
                # All parts are ready before the first goes, so the workers see how many
                # share the cores.
                prepared = [_prepare(prepare, work.items[start:stop]) for start, stop in bounds]
                for (start, _), made in zip(bounds, prepared, strict=True):
                    ready.put((work, made, whole, start))
        ready.put(None)

    def _answer(self, batch_id: int) -> Callable[[list[Any] | BaseException], None]:
        def answer(outputs: list[Any] | BaseException) -> None:
            if isinstance(outputs, BaseException):
                self._emit(Failed(batch_id, outputs))
            else:
                self._emit(Done(batch_id, outputs))

        return answer

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
            self._cancelled.difference_update({(batch_id, i) for i in range(size)})
        self._emit(Done(batch_id, None))


class _Nothing:
    """No work is queued right now."""


NOTHING = _Nothing()


class _Continuous:
    """One continuous stream: admits queued work as the runner takes it, routes each
    ``(key, chunk)`` back to the batch and position it came from, and ends each batch once all
    its inputs have ended (a streamed batch with ``Done(None)``, a whole one with the last
    chunk of each input as its outputs)."""

    def __init__(self, owner: RunnerThread, runner: ContinuousRunner, first: Work) -> None:
        self._owner = owner
        self._runner = runner
        self._waiting: collections.deque[list[Any]] = collections.deque([[first, 0]])
        """``[work, next position to admit]`` of work not wholly admitted yet."""
        self._closed = False
        """The stop is next: admit nothing queued after it."""
        self._keys = itertools.count()
        self._where: dict[int, tuple[int, int]] = {}
        """Admitted inputs not ended yet: key -> (batch id, position)."""
        self._left: dict[int, int] = {}
        """Batch id -> its inputs not ended yet (admitted or not)."""
        self._outputs: dict[int, list[Any]] = {}
        """Batch id -> the outputs so far of a batch that does not stream."""

    def serve(self) -> None:
        chunks = self._runner.stream_continuous(self._take, self._cancelled)
        failure: Exception | None = None
        try:
            for item in chunks:
                self._route(item if isinstance(item, list) else [item])
        except Exception as exc:
            failure = exc
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        partial = {entry[0].batch_id for entry in self._waiting if entry[1] > 0}
        for batch_id in list(self._left):
            if failure is not None:
                self._owner._emit(Failed(batch_id, failure))
                self._forget(batch_id)
            elif batch_id in partial:
                self._owner._emit(
                    Failed(batch_id, errors.ModelError("The runner stopped taking inputs."))
                )
                self._forget(batch_id)
            else:
                self._end_batch(batch_id)
        # Work the runner never took (it ended or failed first) is the next to run.
        untouched = [entry[0] for entry in self._waiting if entry[1] == 0]
        self._owner._ahead.extendleft(reversed(untouched))

    def _take(self, room: int) -> list[tuple[int, Any]]:
        taken: list[tuple[int, Any]] = []
        while len(taken) < room:
            if not self._waiting:
                if self._closed or not self._fetch():
                    break
                continue
            entry = self._waiting[0]
            work, position = entry
            entry[1] += 1
            if entry[1] == len(work.items):
                self._waiting.popleft()
            if work.batch_id not in self._left:
                self._left[work.batch_id] = len(work.items)
                if not work.stream:
                    self._outputs[work.batch_id] = [None] * len(work.items)
            key = next(self._keys)
            self._where[key] = (work.batch_id, position)
            if (work.batch_id, position) in self._owner._cancelled:
                self._ended(key)
            else:
                taken.append((key, work.items[position]))
        return taken

    def _fetch(self) -> bool:
        """Queue the next work for admission; False if there is none now (or the stop is next:
        then nothing more is admitted)."""
        work = self._owner._poll()
        if isinstance(work, _Nothing):
            return False
        if work is None:
            self._owner._ahead.appendleft(work)
            self._closed = True
            return False
        self._waiting.append([work, 0])
        return True

    def _cancelled(self, key: int) -> bool:
        return self._where.get(key) in self._owner._cancelled

    def _route(self, pairs: list[tuple[int, Any]]) -> None:
        by_batch: dict[int, list[tuple[int, Any]]] = {}
        ended = []
        for key, value in pairs:
            if value is END:
                ended.append(key)
                continue
            place = self._where.get(key)
            if place is None or place in self._owner._cancelled:
                continue
            outputs = self._outputs.get(place[0])
            if outputs is not None:
                outputs[place[1]] = value
            else:
                by_batch.setdefault(place[0], []).append((place[1], value))
        for batch_id, chunks in by_batch.items():
            self._owner._emit(Chunks(batch_id, chunks))
        for key in ended:
            self._ended(key)

    def _ended(self, key: int) -> None:
        place = self._where.pop(key, None)
        if place is None:
            return
        batch_id = place[0]
        self._left[batch_id] -= 1
        if self._left[batch_id] == 0:
            self._end_batch(batch_id)

    def _end_batch(self, batch_id: int) -> None:
        self._owner._emit(Done(batch_id, self._outputs.get(batch_id)))
        self._forget(batch_id)

    def _forget(self, batch_id: int) -> None:
        self._left.pop(batch_id, None)
        self._outputs.pop(batch_id, None)
        for key in [k for k, place in self._where.items() if place[0] == batch_id]:
            del self._where[key]
        self._owner._cancelled.difference_update(
            {place for place in list(self._owner._cancelled) if place[0] == batch_id}
        )
