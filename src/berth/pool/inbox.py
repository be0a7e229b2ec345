"""What a runner thread is given: its queue of work (with room to put work back at the front)
and the streamed inputs whose callers left. Both are shared, explicitly, with the parts of
the thread that serve the runner (a continuous stream, the preparing thread)."""

from __future__ import annotations

import collections
import queue

from berth.pool.wire import Work


class Nothing:
    """No work is queued right now."""


NOTHING = Nothing()


class Inbox:
    """Work in order, ``None`` for the stop; only the runner thread takes from the front."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[Work | None] = queue.SimpleQueue()
        self._ahead: collections.deque[Work | None] = collections.deque()
        """Work taken off the queue but given back (it comes before anything still queued)."""

    def put(self, work: Work | None) -> None:
        """Queue work (any thread), or the stop (``None``)."""
        self._queue.put(work)

    def next(self) -> Work | None:
        """The next work, waiting for it; None is the stop."""
        return self._ahead.popleft() if self._ahead else self._queue.get()

    def poll(self) -> Work | Nothing | None:
        """The next work if there is some now, without waiting."""
        if self._ahead:
            return self._ahead.popleft()
        try:
            return self._queue.get_nowait()
        except queue.Empty:
            return NOTHING

    def give_back(self, works: list[Work | None]) -> None:
        """Put taken work back at the front, in this order."""
        self._ahead.extendleft(reversed(works))


class Cancellations:
    """``(batch id, position)`` of streamed inputs whose callers left. Any thread adds; set
    operations are atomic under the GIL."""

    def __init__(self) -> None:
        self._left: set[tuple[int, int]] = set()

    def add(self, batch_id: int, position: int) -> None:
        self._left.add((batch_id, position))

    def __contains__(self, place: object) -> bool:
        return place in self._left

    def forget(self, batch_id: int) -> None:
        """The batch has ended: its cancellations are spent."""
        self._left.difference_update({place for place in list(self._left) if place[0] == batch_id})
