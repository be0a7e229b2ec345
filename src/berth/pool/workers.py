"""Workers inside one model process: how a batch is split between them, and their threads.

With the model option ``workers`` above 1 (runners that say they are ``concurrent``), each
batch is cut into parts of at least :data:`MIN_PART` inputs, at most one part per worker, and
the workers run the parts at once; the batch is answered when its last part is done. The
batcher sees one model that takes one batch at a time, as with a single worker.

Why parts and not whole batches per worker: on CPU, one math thread per part beats all the
threads on one batch (a small model's operators are short, and threads that split each one
wait for each other whenever one is descheduled, for instance by the HTTP server on the same
cores), and splitting inside the process keeps every worker busy without the batcher having
to balance batches between them.

On CPU the workers share the process's math threads (``cpu_threads``, default: the cores
this process may use). One worker, the lead (the thread that loaded the model), runs a part
that is alone with all of them, and shares them when parts run together; the other workers
run theirs on one math thread each, and a part goes to the lead whenever it is idle. Why:
torch's OpenMP runtime (libgomp) keeps a team of threads for every thread that runs a part
with more than one, and once those teams hold more threads than there are cores, every team
stops spinning between operators and sleeps instead; a lone request then took 4-6 ms longer
on the 2-core machine of bench/README.md (9 ms alone). With one team only, the lead's, a
lone request runs as fast as with one worker.

``workers`` defaults to 2 for a CPU model whose runner allows it and whose process has 2 math
threads: each part of a split batch then runs on one thread, which on the 2-core machine of
bench/README.md gave 12% more requests/s at 64 connections than 1 worker, and a lone request
as fast. Elsewhere it defaults to 1: with more math threads than workers the parts off the
lead would run on one thread while the lead's ran on several, and that is not measured yet.
"""

from __future__ import annotations

import collections
import os
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar, cast

MIN_PART = 8
"""The fewest inputs a worker is given from a split batch. On one CPU thread, MiniLM embeds
about 55 sentences/s one at a time, 135 four at a time and its best (about 200) from 8 on:
smaller parts would lose more than running them at once gains."""


def cores() -> int:
    """The CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def resolve(requested: int | None, concurrent: bool, device: str, budget: int) -> int:
    """The workers a model runs with: ``requested`` if set, else the default (see the module
    doc): 2 where the runner is ``concurrent``, the device is the CPU and the process has a
    ``budget`` of 2 math threads, else 1."""
    if requested is not None:
        return requested
    return 2 if concurrent and device == "cpu" and budget == 2 else 1


def parts(size: int, workers: int) -> list[tuple[int, int]]:
    """``(start, stop)`` of each part of a batch of ``size`` inputs: as many as ``workers``
    but none under :data:`MIN_PART` inputs (so at least one), in order, sizes within 1."""
    count = max(1, min(workers, size // MIN_PART))
    base, extra = divmod(size, count)
    bounds, start = [], 0
    for n in range(count):
        stop = start + base + (1 if n < extra else 0)
        bounds.append((start, stop))
        start = stop
    return bounds


class Whole:
    """One batch whose parts run on several workers: collects their outputs in order and
    reports the batch once, when the last part has ended."""

    def __init__(self, size: int, count: int, done: Callable[[list[Any] | BaseException], None]):
        self.parts = count
        self._outputs: list[Any] = [None] * size
        self._left = count
        self._error: BaseException | None = None
        self._done = done
        self._lock = threading.Lock()

    def finish(self, start: int, outputs: Sequence[Any] | BaseException) -> None:
        """A part starting at input ``start`` ended with ``outputs`` or an error. The batch
        fails with the first error once every part has ended."""
        with self._lock:
            if isinstance(outputs, BaseException):
                self._error = self._error or outputs
            elif start + len(outputs) > len(self._outputs):
                self._error = self._error or ValueError(
                    f"a part of {len(outputs)} outputs at {start} overruns the batch"
                )
            else:
                self._outputs[start : start + len(outputs)] = outputs
            self._left -= 1
            last = self._left == 0
        if last:
            self._done(self._error if self._error is not None else self._outputs)


def set_budget(threads: int | None, device: str) -> None:
    """Give torch ``threads`` math threads (``cpu_threads``), on this thread and as the default
    of threads that have not used torch yet. The environment the model process sets is read
    only when torch loads, which may be before that (an import made by unpickling the load
    order), so it is set here too, once the model is loaded."""
    if threads is not None and device == "cpu":
        _set_torch_threads(threads)


def _set_torch_threads(threads: int) -> None:
    """torch's math threads for the calling thread (and threads yet to use torch); nothing
    before torch is imported."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


class MathThreads:
    """Shares a CPU model's math threads between the parts running at once.

    torch keeps its thread count per calling thread (OpenMP's and MKL's per-thread setting),
    so each worker sets its own before a part. The lead takes the budget divided by the parts
    that run now or wait (at most one per worker); the others take one thread (see the module
    doc). On a GPU, or before torch is imported, it does nothing.
    """

    def __init__(self, budget: int, workers: int, device: str) -> None:
        self._budget = max(1, budget)
        self._workers = workers
        self._active = device == "cpu" and workers > 1
        self._running = 0
        self._lock = threading.Lock()

    def enter(self, waiting: int, siblings: int = 1, *, lead: bool = True) -> int:
        """A part of a batch cut into ``siblings`` parts starts on this thread (the lead's or
        another worker's) while ``waiting`` more are queued; returns the threads it runs with
        (0 where they are left alone)."""
        with self._lock:
            self._running += 1
            sharing = min(self._workers, max(siblings, self._running + waiting))
        if not self._active:
            return 0
        threads = max(1, self._budget // sharing) if lead else 1
        _set_torch_threads(threads)
        return threads

    def leave(self) -> None:
        with self._lock:
            self._running -= 1


T = TypeVar("T")


class Slot(Generic[T]):
    """A worker's place in the handoff: where its next part is put."""

    __slots__ = ("event", "item")

    def __init__(self) -> None:
        self.event = threading.Event()
        self.item: T | None = None

    def fill(self, item: T) -> None:
        self.item = item
        self.event.set()

    def wait(self) -> T:
        """The part put here, waiting for it."""
        self.event.wait()
        return cast(T, self.item)  # set before the event


class Handoff(Generic[T]):
    """The queue between the preparing thread and the workers. A part goes to the lead if it
    is idle (its math threads are the only ones a part may have more of, see the module doc),
    else to the worker that went idle last. At most ``limit`` parts wait when no worker is
    idle."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._backlog: collections.deque[T] = collections.deque()
        self._lead: Slot[T] | None = None
        self._idle: list[Slot[T]] = []
        self._room = threading.Condition()

    def put(self, item: T) -> None:
        with self._room:
            while self.idle == 0 and len(self._backlog) >= self._limit:
                self._room.wait()
            if self._lead is not None:  # then nothing is in the backlog
                slot, self._lead = self._lead, None
            elif self._idle:
                slot = self._idle.pop()
            else:
                self._backlog.append(item)
                return
            slot.fill(item)

    def claim(self, *, lead: bool = False) -> Slot[T]:
        """A worker (``lead``: the lead) is ready for its next part: the oldest waiting part,
        or the next one put. A worker claims before it answers its last part, so the next
        part of a lone caller, sent once the answer is out, finds it idle."""
        slot: Slot[T] = Slot()
        with self._room:
            if self._backlog:
                slot.fill(self._backlog.popleft())
                self._room.notify()
            elif lead:
                self._lead = slot
            else:
                self._idle.append(slot)
        return slot

    def get(self, *, lead: bool = False) -> T:
        """The next part, waiting for it."""
        return self.claim(lead=lead).wait()

    def qsize(self) -> int:
        """Parts waiting for a worker."""
        return len(self._backlog)

    @property
    def idle(self) -> int:
        """Workers waiting for a part."""
        return len(self._idle) + (self._lead is not None)
