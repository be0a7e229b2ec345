"""The batcher: gathers one model's concurrent requests into batches.

Policy, chosen so that a lone request never waits and a busy model never idles:

* An idle model takes a request at once. The batch closes when the event loop has run the
  callbacks that were ready (so requests made in the same instant join it), bounded by
  ``max_batch_size`` items and ``max_wait_ms``.
* An idle model given at least :data:`SPLIT_AT` items at once, from more than one caller,
  gets them as two batches, the
  second ready to start when the first ends. Without that, many callers that all wait in one
  batch come back together, and the model idles while their answers go out and their next
  requests come in (which on a busy server takes longer than a small batch); with it, one
  half's answers and requests overlap the other half's batch.
* While a batch runs, the next one gathers. It goes to the model, to start there the moment
  the running one ends, once it holds as many items as the running batch (or is full): a
  batch that size gains little from growing further, and waiting for the running one to end
  would leave the model idle for a round trip (the answers go out and the next batch comes
  in through a busy event loop). A smaller one goes when the running one ends, in the same
  callback that hands out the answers, without a gathering turn (its requests have waited a
  whole batch). At most two batches are in the model at a time: one running, one ready to
  start (a model with several ``workers`` splits each batch between them, see
  :mod:`berth.pool.workers`).

Online requests come first: a job's calls (``background``) wait in a second lane, taken only
when no online request waits, and a batch of them goes to the model only while it is idle
(never ahead of a running one). So an online request that finds a job's batch running starts
the moment that batch ends, however many of the job's items still wait; the model idles for
one round trip between two batches of a job, which on any model worth batching is small.

A model whose runner joins streams (continuous batching, see
:class:`~berth.runners.contract.ContinuousRunner`) gets its streamed requests as they come:
those made in the same instant go as one batch, without waiting for the batches in the model,
and the runner takes them in between its steps.

A request may hold more items than a batch; it then spans batches. Every request resolves
with its own outputs or its own error; a failing batch fails only the requests in it.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from berth import errors

_END = object()
MAX_IN_FLIGHT = 2
"""Batches in the model at once: the one running and the next, ready to start."""
SPLIT_AT = 16
"""Items at which the first batch for an idle model is cut in two (see the module doc)."""


ONLINE, BACKGROUND = 0, 1
"""The lanes: online requests, then jobs' calls."""


class Request:
    """One caller's items; its future resolves with one output per item."""

    __slots__ = (
        "dispatched_ns", "future", "items", "lane", "left", "outputs", "queued_ns", "seq", "taken",
    )  # fmt: skip

    def __init__(
        self,
        items: Sequence[object],
        future: asyncio.Future[list[object]],
        seq: int,
        lane: int = ONLINE,
    ) -> None:
        self.items = items
        self.future = future
        self.seq = seq
        self.lane = lane
        self.queued_ns = time.time_ns()
        self.dispatched_ns: int | None = None
        """When the first of its items went to the model (for the batching-wait span)."""
        self.outputs: list[object] = [None] * len(items)
        self.taken = 0
        self.left = len(items)

    @property
    def pending(self) -> int:
        """Items not yet handed to the model."""
        return len(self.items) - self.taken

    @property
    def closed(self) -> bool:
        return self.future.done()

    def deliver(self, start: int, outputs: Sequence[object]) -> None:
        for output in outputs:
            if isinstance(output, BaseException):
                self.fail(output)
                return
        self.outputs[start : start + len(outputs)] = outputs
        self.left -= len(outputs)
        if self.left == 0 and not self.future.done():
            self.future.set_result(self.outputs)

    def chunk(self, value: object) -> None:
        self.fail(
            errors.ModelError("The runner streamed a chunk for a request that did not stream.")
        )

    def end(self) -> None:
        self.fail(errors.ModelError("The runner gave no outputs for a batch."))

    def fail(self, error: BaseException) -> None:
        if not self.future.done():
            self.future.set_exception(error)


class _Failure:
    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


class StreamRequest:
    """One caller's streamed item: iterate :meth:`chunks` for its chunks, in order."""

    __slots__ = ("_queue", "batch", "done", "items", "lane", "position", "seq", "taken")

    def __init__(self, item: object, seq: int, lane: int = ONLINE) -> None:
        self.items = (item,)
        self.seq = seq
        self.lane = lane
        self.taken = 0
        self.done = False
        self.batch: Batch | None = None
        """The batch it went to the model in, and its place there."""
        self.position = 0
        self._queue: asyncio.Queue[object] = asyncio.Queue()

    @property
    def pending(self) -> int:
        return 1 - self.taken

    @property
    def closed(self) -> bool:
        return self.done

    def deliver(self, start: int, outputs: Sequence[object]) -> None:
        self.fail(errors.ModelError("The runner returned outputs for a streamed request."))

    def chunk(self, value: object) -> None:
        if isinstance(value, BaseException):
            self.fail(value)
        elif not self.done:
            self._queue.put_nowait(value)

    def end(self) -> None:
        self._close(_END)

    def fail(self, error: BaseException) -> None:
        self._close(_Failure(error))

    def cancel(self) -> None:
        """The caller stopped listening: drop what still comes, and tell the model to stop
        working on it if it has started."""
        if self.done:
            return
        self.done = True
        if self.batch is not None:
            self.batch.cancel(self.position)

    def _close(self, last: object) -> None:
        if not self.done:
            self.done = True
            self._queue.put_nowait(last)

    async def chunks(self) -> AsyncIterator[object]:
        """The chunks as they come; raises the batch's error if it fails midway."""
        while (value := await self._queue.get()) is not _END:
            if isinstance(value, _Failure):
                raise value.error
            yield value


AnyRequest = Request | StreamRequest


class Batch:
    """Items from one or more requests, run together. The transport calls back into it."""

    __slots__ = ("_on_done", "items", "on_cancel", "parts", "stream")

    def __init__(self, stream: bool, on_done: Callable[[Batch], None]) -> None:
        self.stream = stream
        self.items: list[object] = []
        self.parts: list[tuple[AnyRequest, int, int]] = []
        """``(request, first item of it in this batch, how many)`` in batch order."""
        self._on_done = on_done
        self.on_cancel: Callable[[int], None] | None = None
        """Set by the transport that runs the batch: tells the model an input's caller left."""

    def add(self, request: AnyRequest, count: int) -> None:
        start = request.taken
        if isinstance(request, StreamRequest):
            request.batch, request.position = self, len(self.items)
        self.parts.append((request, start, count))
        self.items.extend(request.items[start : start + count])
        request.taken += count

    def finish(self, outputs: list[object] | None) -> None:
        """The model ran the batch: ``outputs`` in item order, or None for a stream's end."""
        if outputs is None:
            for request, _, _ in self.parts:
                request.end()
        elif len(outputs) != len(self.items):
            self.fail(
                errors.ModelError(
                    f"The runner returned {len(outputs)} outputs for {len(self.items)} inputs."
                )
            )
            return
        else:
            position = 0
            for request, start, count in self.parts:
                request.deliver(start, outputs[position : position + count])
                position += count
        self._on_done(self)

    def cancel(self, position: int) -> None:
        """The caller of the streamed input at ``position`` stopped listening."""
        if self.on_cancel is not None:
            self.on_cancel(position)

    def chunk(self, index: int, value: object) -> None:
        """A streamed chunk for item ``index`` (stream batches take one item per request)."""
        self.parts[index][0].chunk(value)

    def fail(self, error: BaseException) -> None:
        """The batch failed: so does every request in it."""
        for request, _, _ in self.parts:
            request.fail(error)
        self._on_done(self)


class Batcher:
    """Gathers requests for one model and hands batches to ``send`` (see the module doc)."""

    def __init__(
        self,
        send: Callable[[Batch], None],
        max_items: int,
        max_wait: float,
        *,
        joins: bool = False,
        max_queue: int = 1_000_000,
        name: str = "the model",
    ) -> None:
        self._max_in_flight = MAX_IN_FLIGHT
        self._send = send
        self._max_queue = max_queue
        self._name = name
        self._joins = joins
        self._joining: collections.deque[StreamRequest] = collections.deque()
        """Streamed requests for a joining model, to go out at the end of this loop turn."""
        self._streaming = 0
        """Streamed batches sent to a joining model and not ended yet."""
        self._streamed_items = 0
        """Their inputs: past ``max_items`` of them, the rest wait in the model for room."""
        self._max = max_items
        self._max_wait = max_wait
        self._loop = asyncio.get_running_loop()
        self._lanes = (_Lane(), _Lane())
        """Online requests, then jobs' calls (``ONLINE``, ``BACKGROUND``)."""
        self._seq = itertools.count()
        self._in_flight = 0
        self._gathering = False
        self._seen = 0
        self._deadline = 0.0
        self._ready_at = max_items
        """Queued items at which the next batch goes to the model while one runs: as many as
        the batch sent last (the one running, whenever only one is in the model)."""

    @property
    def _queued(self) -> int:
        """Items queued in both lanes and not yet handed to the model."""
        return self._lanes[ONLINE].queued + self._lanes[BACKGROUND].queued

    @property
    def idle(self) -> bool:
        """Nothing queued and nothing in the model."""
        return (
            self._queued == 0 and self._in_flight == 0 and not self._joining and not self._streaming
        )

    def run(
        self, items: Sequence[object], *, background: bool = False
    ) -> asyncio.Future[list[object]]:
        """Queue ``items``; the future resolves with their outputs, in order."""
        return self.submit(items, background=background).future

    def submit(self, items: Sequence[object], *, background: bool = False) -> Request:
        """Queue ``items`` and return their request (its future, and when it was sent);
        QueueFull if ``max_queue`` requests wait already. ``background``: a job's call,
        served after every online request."""
        self._check_room()
        lane = BACKGROUND if background else ONLINE
        request = Request(items, self._loop.create_future(), next(self._seq), lane)
        self._lanes[lane].runs.append(request)
        self._lanes[lane].queued += len(items)
        self._schedule()
        return request

    def stream(self, item: object, *, background: bool = False) -> StreamRequest:
        """Queue one item to stream; QueueFull if ``max_queue`` requests wait already. A
        joining model takes every stream as it comes, so there ``background`` changes
        nothing: the runner interleaves them token by token."""
        self._check_room()
        lane = BACKGROUND if background else ONLINE
        request = StreamRequest(item, next(self._seq), lane)
        if self._joins:
            if not self._joining:
                self._loop.call_soon(self._send_joining)
            self._joining.append(request)
            return request
        self._lanes[lane].streams.append(request)
        self._lanes[lane].queued += 1
        self._schedule()
        return request

    @property
    def waiting(self) -> int:
        """Requests not wholly handed to the model yet, and streams a joining model has no
        room for yet."""
        queued = sum(lane.requests for lane in self._lanes) + len(self._joining)
        return queued + max(0, self._streamed_items - self._max)

    def _check_room(self) -> None:
        if self.waiting >= self._max_queue:
            raise errors.QueueFull(
                f"The queue of {self._name} is full: {self.waiting} waiting "
                f"(max_queue is {self._max_queue}). Try again in a few seconds, send fewer "
                "requests at once, or raise max_queue in its catalog entry."
            )

    def fail_queued(self, error: BaseException) -> None:
        """Fail every request still waiting for the model (in-flight batches are the
        transport's to fail)."""
        for lane in self._lanes:
            lane.fail(error)
        while self._joining:
            self._joining.popleft().fail(error)

    def _send_joining(self) -> None:
        """Send the streamed requests made during this loop turn to a joining model."""
        while self._joining:
            batch = Batch(True, self._stream_ended)
            while self._joining and len(batch.items) < self._max:
                request = self._joining.popleft()
                if not request.closed:
                    batch.add(request, 1)
            if batch.items:
                self._streaming += 1
                self._streamed_items += len(batch.items)
                self._send(batch)

    def _stream_ended(self, batch: Batch) -> None:
        self._streaming -= 1
        self._streamed_items -= len(batch.items)

    def _schedule(self) -> None:
        if self._queued == 0 or self._gathering:
            return
        idle = self._in_flight == 0
        online = self._lanes[ONLINE].queued
        # Only online items go ahead of a running batch; a job's wait for the model to idle.
        ahead = self._in_flight < self._max_in_flight and online and online >= self._ready_at
        if ahead and online >= self._max:
            self._dispatch()  # full: it cannot grow, so it goes without a gathering turn
        elif idle or ahead:
            self._gathering = True
            self._seen = self._queued
            self._deadline = self._loop.time() + self._max_wait
            self._loop.call_soon(self._gather)

    def _gather(self) -> None:
        """Close the batch once no new request joined during one turn of the event loop."""
        growing = self._queued < self._max and self._queued != self._seen
        if growing and self._loop.time() < self._deadline:
            self._seen = self._queued
            self._loop.call_soon(self._gather)
            return
        self._gathering = False
        callers = self._lanes[ONLINE].requests if self._lanes[ONLINE].queued else 0
        if self._in_flight == 0 and self._queued >= SPLIT_AT and callers > 1:
            self._dispatch(limit=(min(self._queued, 2 * self._max) + 1) // 2)
        else:
            self._dispatch()
        self._schedule()

    def _dispatch(self, limit: int | None = None) -> None:
        if self._in_flight and not self._lanes[ONLINE].queued:
            return  # a job's batch waits for the model to idle (see the module doc)
        batch = self._take(self._max if limit is None else limit)
        if batch.items:
            self._in_flight += 1
            self._ready_at = min(self._max, len(batch.items))
            self._send(batch)

    def _take(self, limit: int) -> Batch:
        """The next batch: from the online lane while it holds anything, else the jobs'."""
        lane = self._lanes[ONLINE] if self._lanes[ONLINE].queued else self._lanes[BACKGROUND]
        queue = lane.next_queue()
        batch = Batch(queue is lane.streams, self._finished)
        while queue and len(batch.items) < limit:
            request: AnyRequest = queue[0]
            if request.closed:
                lane.queued -= request.pending
                queue.popleft()
                continue
            count = min(request.pending, limit - len(batch.items))
            if isinstance(request, Request) and request.dispatched_ns is None:
                request.dispatched_ns = time.time_ns()
            batch.add(request, count)
            lane.queued -= count
            if request.pending == 0:
                queue.popleft()
        return batch

    def _finished(self, batch: Batch) -> None:
        self._in_flight -= 1
        if self._in_flight == 0 and self._queued and not self._gathering:
            self._dispatch()
        self._schedule()


class _Lane:
    """One priority's queued requests: whole-output ones and streamed ones, each in order."""

    __slots__ = ("queued", "runs", "streams")

    def __init__(self) -> None:
        self.runs: collections.deque[Request] = collections.deque()
        self.streams: collections.deque[StreamRequest] = collections.deque()
        self.queued = 0
        """Items not yet handed to the model."""

    @property
    def requests(self) -> int:
        return len(self.runs) + len(self.streams)

    def next_queue(self) -> collections.deque[Any]:
        """The queue whose first request is older (a batch holds one kind of request)."""
        if self.streams and (not self.runs or self.streams[0].seq < self.runs[0].seq):
            return self.streams
        return self.runs

    def fail(self, error: BaseException) -> None:
        for queue in (self.runs, self.streams):
            while queue:
                queue.popleft().fail(error)
        self.queued = 0
