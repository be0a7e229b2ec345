"""The model pool: the one object the rest of Berth asks to run models.

A request names a model by alias. The pool finds it resident (or loads it, one load shared
by every caller that wants it), hands the items to that model's batcher, and returns each
caller its own outputs. See :mod:`berth.pool.residency` for loading, the memory budget and
unloading, :mod:`berth.pool.hosting` for the one resident that answers every fine-tuned model
over a base, and :mod:`berth.pool.batcher` for how requests become batches.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from types import TracebackType
from typing import Any, Self

from opentelemetry import trace

from berth import errors, tracing
from berth.clock import Clock, SystemClock
from berth.models.spec import ModelSpec
from berth.pool.residency import PathSource, Residency, SpecSource
from berth.pool.resident import Phase
from berth.runners.contract import RunnerType
from berth.settings import Settings

log = logging.getLogger(__name__)
EXPIRY_TICK = (0.05, 1.0)
"""Shortest and longest pause between two keep-alive checks (seconds)."""


class State(enum.StrEnum):
    NEW = "new"
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


class ModelPool:
    """Keeps models resident within a memory budget; use as ``async with ModelPool(...)``.

    ``specs`` gives the catalog entry of an alias (raising UnknownModel), ``resolve`` the
    directory of its verified files (raising ModelNotCached), ``runners`` the installed
    runner plugins by name.
    """

    def __init__(
        self,
        settings: Settings,
        specs: SpecSource,
        resolve: PathSource,
        runners: Mapping[str, RunnerType],
        *,
        clock: Clock | None = None,
    ) -> None:
        self._clock = clock or SystemClock()
        self._changed = asyncio.Event()
        self._residency = Residency(
            settings, specs, resolve, runners, self._clock, self._changed.set
        )
        self.state = State.NEW
        self._expiry: asyncio.Task[None] | None = None

    # -- lifecycle ----------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def open(self) -> None:
        """Start the keep-alive task; the pool then takes requests."""
        if self.state is not State.NEW:
            raise errors.PoolClosed(f"Cannot open the model pool: it is {self.state}.")
        self.state = State.OPEN
        self._expiry = asyncio.create_task(self._expire_forever(), name="berth-pool-expiry")

    async def close(self) -> None:
        """Unload every model (their processes exit) and refuse further requests."""
        if self.state in (State.CLOSING, State.CLOSED):
            return
        self.state = State.CLOSING
        if self._expiry is not None:
            self._expiry.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._expiry
        await self._residency.close()
        self.state = State.CLOSED
        log.info("model pool closed", extra={"action": "pool.closed"})

    def _check_open(self, doing: str) -> None:
        if self.state is not State.OPEN:
            raise errors.PoolClosed(f"Cannot {doing}: the model pool is {self.state}.")

    # -- requests -----------------------------------------------------------------------------

    async def run(
        self, alias: str, items: Sequence[object], *, background: bool = False
    ) -> list[object]:
        """One output per item from the model ``alias``, batched with other callers' items.
        ``background``: a job's call, which online requests go before."""
        self._check_open("run")
        if not items:
            return []
        if trace.get_current_span().is_recording():
            return await self._run_traced(alias, items, background)
        to = self._residency.route(alias)
        resident = await self._residency.acquire(to)
        try:
            outputs = await resident.batcher.run(to.tag(items), background=background)
        finally:
            self._residency.release(resident)
        resident.served(to.adapter)
        return outputs

    async def _run_traced(
        self, alias: str, items: Sequence[object], background: bool
    ) -> list[object]:
        """``run``, with spans for the model load (if one was needed), the batching wait and
        the inference."""
        tracer = tracing.tracer()
        attributes: dict[str, str | int] = {"berth.model": alias, "berth.items": len(items)}
        with tracer.start_as_current_span("model call", attributes=attributes):
            to = self._residency.route(alias)
            if self.is_ready(alias):
                resident = await self._residency.acquire(to)
            else:
                with tracer.start_as_current_span("model load", attributes={"berth.model": alias}):
                    resident = await self._residency.acquire(to)
            try:
                request = resident.batcher.submit(to.tag(items), background=background)
                outputs = await request.future
            finally:
                self._residency.release(resident)
            resident.served(to.adapter)
            sent = request.dispatched_ns or request.queued_ns
            tracer.start_span("batching wait", start_time=request.queued_ns).end(end_time=sent)
            tracer.start_span("inference", start_time=sent).end()
            return outputs

    async def stream(
        self, alias: str, item: object, *, background: bool = False
    ) -> AsyncIterator[object]:
        """The chunks a streaming model makes for ``item``, as it makes them."""
        self._check_open("stream")
        to = self._residency.route(alias)
        resident = await self._residency.acquire(to)
        try:
            if not resident.runner.streaming:
                raise errors.InvalidRequest(
                    f"Model '{alias}' cannot stream: its runner '{resident.runner.name}' "
                    "gives whole outputs. Call it without streaming."
                )
            [tagged] = to.tag([item])
            request = resident.batcher.stream(tagged, background=background)
            try:
                async for chunk in request.chunks():
                    resident.served(to.adapter)
                    yield chunk
            finally:
                request.cancel()
        finally:
            self._residency.release(resident)

    # -- management ---------------------------------------------------------------------------

    async def load(self, alias: str) -> None:
        """Load ``alias`` now (if it is not loaded), making room for it within the budget."""
        self._check_open("load a model")
        resident = await self._residency.acquire(self._residency.route(alias))
        self._residency.release(resident, counted=False)

    def reserve(
        self, holder: str, device: str, nbytes: int
    ) -> contextlib.AbstractAsyncContextManager[None]:
        """Hold ``nbytes`` of ``device``'s memory budget for work that is not a model (a
        training run) while the block runs; models are evicted or waited for as for a load."""
        return self._residency.reserve(holder, device, nbytes)

    async def unload(self, alias: str) -> bool:
        """Unload ``alias`` once its running calls finish; False if it was not loaded. For a
        fine-tuned model that is the resident hosting its base's adapters, all of them."""
        self._check_open("unload a model")
        return await self._residency.unload(alias)

    def pin(self, alias: str, pinned: bool = True) -> None:
        """Pin (never evict, never expire) or unpin ``alias``, loaded or not (for a fine-tuned
        model: the resident hosting its base's adapters)."""
        self._residency.pin(alias, pinned)
        self._changed.set()

    async def expire(self) -> list[str]:
        """Unload the models idle past their ``keep_alive`` now; return their aliases."""
        return await self._residency.expire()

    def spec(self, alias: str) -> ModelSpec:
        """The catalog entry the pool loads ``alias`` from; raises UnknownModel."""
        return self._residency.spec(alias)

    def is_ready(self, alias: str) -> bool:
        """True if ``alias`` is loaded and answering (no load would be needed)."""
        resident = self._residency.find(alias)
        return resident is not None and resident.phase is Phase.READY

    def describe(self) -> list[dict[str, Any]]:
        """The loaded models: alias, device, memory_bytes, idle_seconds, requests, pinned,
        loaded_at, transport, pid, and adapters (the fine-tuned models a resident hosting
        their base has answered for; its alias is ``<base>+adapters-<digest>``)."""
        self._residency.refresh()
        now = self._clock.now()
        return [
            resident.describe(now, self._residency.pinned(resident))
            for resident in self._residency.residents()
            if resident.phase is Phase.READY
        ]

    def memory(self) -> dict[str, dict[str, int]]:
        """Per device in use: its ``budget`` and what loaded models ``hold``, in bytes."""
        devices = sorted({r.device for r in self._residency.residents()})
        budget = self._residency.budget
        return {d: {"budget": budget.limit(d), "held": self._residency.held(d)} for d in devices}

    async def wait_changed(self, timeout: float) -> bool:
        """Until a model loads, unloads or is pinned, or ``timeout`` passes; True if changed."""
        try:
            await asyncio.wait_for(self._changed.wait(), timeout)
        except TimeoutError:
            return False
        self._changed.clear()
        return True

    async def _expire_forever(self) -> None:
        while True:
            await asyncio.sleep(self._expiry_tick())
            try:
                await self._residency.expire()
            except Exception:
                log.exception("keep-alive check failed", extra={"action": "pool.expiry_failed"})

    def _expiry_tick(self) -> float:
        shortest, longest = EXPIRY_TICK
        keep_alives = [
            r.spec.options.keep_alive
            for r in self._residency.residents()
            if r.spec.options.keep_alive is not None
        ]
        return min(longest, max(shortest, min(keep_alives, default=longest) / 4))
