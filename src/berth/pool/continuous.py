"""One continuous stream of a :class:`~berth.runners.contract.ContinuousRunner`: work queued
behind the stream joins it between steps, as the runner has room.

It admits queued work as the runner takes it, routes each ``(key, chunk)`` back to the batch
and position it came from, and ends each batch once all its inputs have ended (a streamed
batch with ``Done(None)``, a whole one with the last chunk of each input as its outputs).
Work the runner never took goes back to the front of the inbox.
"""

from __future__ import annotations

import collections
import itertools
from collections.abc import Callable
from typing import Any

from berth import errors
from berth.pool.inbox import Cancellations, Inbox, Nothing
from berth.pool.wire import Chunks, Done, Failed, Message, Work
from berth.runners.contract import END, ContinuousRunner

Emit = Callable[[Message], None]


class ContinuousStream:
    """Serves one stream (see the module doc); it owns its bookkeeping and reaches the runner
    thread only through the inbox, the cancellations and ``emit`` it is given."""

    def __init__(
        self,
        runner: ContinuousRunner,
        first: Work,
        inbox: Inbox,
        cancelled: Cancellations,
        emit: Emit,
    ) -> None:
        self._runner = runner
        self._inbox = inbox
        self._gone = cancelled
        self._emit = emit
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
                self._emit(Failed(batch_id, failure))
                self._forget(batch_id)
            elif batch_id in partial:
                self._emit(Failed(batch_id, errors.ModelError("The runner stopped taking inputs.")))
                self._forget(batch_id)
            else:
                self._end_batch(batch_id)
        untouched: list[Work | None] = [entry[0] for entry in self._waiting if entry[1] == 0]
        if self._closed:
            untouched.append(None)  # the stop stays after them
        self._inbox.give_back(untouched)

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
            if (work.batch_id, position) in self._gone:
                self._ended(key)
            else:
                taken.append((key, work.items[position]))
        return taken

    def _fetch(self) -> bool:
        """Queue the next work for admission; False if there is none now (or the stop is next:
        then nothing more is admitted)."""
        work = self._inbox.poll()
        if isinstance(work, Nothing):
            return False
        if work is None:
            self._closed = True
            return False
        self._waiting.append([work, 0])
        return True

    def _cancelled(self, key: int) -> bool:
        return self._where.get(key) in self._gone

    def _route(self, pairs: list[tuple[int, Any]]) -> None:
        by_batch: dict[int, list[tuple[int, Any]]] = {}
        ended = []
        for key, value in pairs:
            if value is END:
                ended.append(key)
                continue
            place = self._where.get(key)
            if place is None or place in self._gone:
                continue
            outputs = self._outputs.get(place[0])
            if outputs is not None:
                outputs[place[1]] = value
            else:
                by_batch.setdefault(place[0], []).append((place[1], value))
        for batch_id, chunks in by_batch.items():
            self._emit(Chunks(batch_id, chunks))
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
        self._emit(Done(batch_id, self._outputs.get(batch_id)))
        self._forget(batch_id)

    def _forget(self, batch_id: int) -> None:
        self._left.pop(batch_id, None)
        self._outputs.pop(batch_id, None)
        for key in [k for k, place in self._where.items() if place[0] == batch_id]:
            del self._where[key]
        self._gone.forget(batch_id)
