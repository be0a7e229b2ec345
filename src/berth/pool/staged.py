"""The staged path of a runner thread: a preparing thread and one or more workers.

The preparing thread takes the queued work in order and calls ``prepare`` on each batch (a
:class:`~berth.runners.contract.StagedRunner` tokenizes batch N+1 while batch N runs), cut into
parts, one per worker (see :mod:`berth.pool.workers`); the workers run the parts at once, the
lead on this thread. Streamed batches pass through unprepared, in their place, and run whole.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from berth.pool.inbox import Inbox
from berth.pool.wire import Done, Failed, Message, Work
from berth.pool.workers import Handoff, MathThreads, Whole, parts
from berth.runners.contract import Runner

Emit = Callable[[Message], None]
Prepare = Callable[[Sequence[Any]], Any]
Run = Callable[[Any], list[Any]]
Guard = Callable[[], contextlib.AbstractContextManager[object]]


class _Unprepared(NamedTuple):
    """A batch whose ``prepare`` raised: it fails without reaching the model."""

    error: Exception


Part = tuple[Work, Any, "Whole | None", int]
"""A part of a batch for a worker: the work, what ``prepare`` made of its inputs
(:class:`_Unprepared` when it raised), the batch it belongs to and the index of its first
input; a stream goes whole, as ``(work, None, None, 0)``."""


def _prepare(prepare: Prepare, items: Sequence[Any]) -> Any:
    try:
        return prepare(items)
    except Exception as exc:
        return _Unprepared(exc)


def unchanged(items: Sequence[Any]) -> Sequence[Any]:
    """``prepare`` for a runner that has no preparing stage."""
    return items


class StagedServer:
    """Serves ``runner`` from ``inbox`` until the stop (see the module doc)."""

    def __init__(
        self,
        *,
        name: str,
        inbox: Inbox,
        emit: Emit,
        guard: Guard,
        workers: int,
        math_budget: int,
        device: str,
        run_whole: Callable[[Runner, Work], None],
    ) -> None:
        self._name = name
        self._inbox = inbox
        self._emit = emit
        self._guard = guard
        self._workers = workers
        self._math_budget = math_budget
        self._device = device
        self._run_whole = run_whole

    def serve(self, runner: Runner, prepare: Prepare, run: Run) -> None:
        ready: Handoff[Part | None] = Handoff(limit=self._workers)
        first = ready.claim(lead=True)  # before any part can come: the first goes to the lead
        preparer = threading.Thread(
            target=self._prepare_all,
            args=(prepare, ready),
            name=f"berth-prepare-{self._name}",
            daemon=True,
        )
        preparer.start()
        threads = MathThreads(self._math_budget, self._workers, self._device)

        def consume(lead: bool) -> None:
            slot = first if lead else ready.claim()
            while (part := slot.wait()) is not None:
                work, prepared, whole, start = part
                if whole is None:
                    self._run_whole(runner, work)  # a stream, whole
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

    def _together(self, target: Callable[[bool], None]) -> None:
        """Run ``target`` on this thread, the lead (``target(True)``), and on ``workers - 1``
        more (``target(False)``), until all return."""

        def guarded() -> None:
            with self._guard():
                target(False)

        others = [
            threading.Thread(target=guarded, name=f"berth-model-{self._name}-{n}", daemon=True)
            for n in range(1, self._workers)
        ]
        for thread in others:
            thread.start()
        target(True)
        for thread in others:
            thread.join()

    def _prepare_all(self, prepare: Prepare, ready: Handoff[Part | None]) -> None:
        """The preparing thread: queued work, prepared in order, a part at a time."""
        with self._guard():
            while (work := self._inbox.next()) is not None:
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
