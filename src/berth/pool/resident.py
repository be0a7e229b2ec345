"""A resident: one model the pool has loaded (or is loading, or unloading), and its counters
(for one hosting fine-tuned adapters, also the fine-tuned models it has answered)."""

from __future__ import annotations

import asyncio
import enum
from typing import Any

from berth import errors
from berth.models.spec import ModelSpec
from berth.pool.batcher import Batcher
from berth.pool.budget import Holder
from berth.pool.transport import Transport, consume
from berth.runners.contract import RunnerType
from berth.tasks.generate import AdapterRef


class Phase(enum.StrEnum):
    LOADING = "loading"
    READY = "ready"
    UNLOADING = "unloading"
    GONE = "gone"


class Resident:
    """One model in the pool. ``users`` counts the calls that hold it (it is busy while any
    do); while loading, ``memory`` is what the load reserved, then what was measured."""

    def __init__(self, spec: ModelSpec, device: str, runner: RunnerType, reserved: int) -> None:
        self.spec = spec
        self.alias = spec.alias
        self.device = device
        self.runner = runner
        self.memory = reserved
        self.phase = Phase.LOADING
        self.users = 0
        self.requests = 0
        self.loaded_at: float | None = None
        self.last_used = 0.0
        self.adapters: set[str] = set()
        """The fine-tuned models whose adapters it has answered for (it hosts their base)."""
        self._transport: Transport | None = None
        self._batcher: Batcher | None = None
        loop = asyncio.get_running_loop()
        self._loaded: asyncio.Future[None] = loop.create_future()
        self._loaded.add_done_callback(consume)
        self._gone = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def transport(self) -> Transport:
        if self._transport is None:
            raise errors.PoolClosed(f"Model '{self.alias}' is not loaded.")
        return self._transport

    @property
    def batcher(self) -> Batcher:
        if self._batcher is None:
            raise errors.PoolClosed(f"Model '{self.alias}' is not loaded.")
        return self._batcher

    @property
    def serving(self) -> bool:
        """Loaded and taking requests."""
        return self.phase is Phase.READY

    @property
    def idle(self) -> bool:
        """Ready, and no call holds it."""
        return self.phase is Phase.READY and self.users == 0

    def hold(self) -> None:
        self.users += 1
        self._idle.clear()

    def release(self, now: float, counted: bool) -> None:
        self.users -= 1
        self.last_used = now
        self.requests += counted
        if self.users == 0:
            self._idle.set()

    def served(self, adapter: AdapterRef | None) -> None:
        """A request with ``adapter`` (None: none) was answered here."""
        if adapter is not None:
            self.adapters.add(adapter.name)

    def stop_waiting(self) -> None:
        """Let an unload that waits for this model's calls go ahead now (the pool closes)."""
        self._idle.set()

    def ready(self, transport: Transport, batcher: Batcher, now: float) -> bool:
        """Take requests from now on; False if the load failed meanwhile (a crash)."""
        if self._loaded.done():
            return False
        self._transport, self._batcher = transport, batcher
        self.phase = Phase.READY
        self.loaded_at = self.last_used = now
        self._loaded.set_result(None)
        return True

    def load_failed(self, error: BaseException) -> None:
        """The load failed (or the model is gone): waiters get ``error``."""
        if not self._loaded.done():
            self._loaded.set_exception(error)
        self.gone()

    def gone(self) -> None:
        self.phase = Phase.GONE
        self._gone.set()

    async def wait_loaded(self) -> None:
        """Until the load ends; raises the load's error. Cancelling the wait leaves the load."""
        await asyncio.shield(self._loaded)

    async def wait_gone(self) -> None:
        await self._gone.wait()

    async def wait_idle(self) -> None:
        await self._idle.wait()

    def holder(self, pinned: bool) -> Holder:
        """This model as the budget sees it."""
        busy = not self.idle or (self._batcher is not None and not self._batcher.idle)
        return Holder(self.alias, self.memory, pinned, busy, self.last_used)

    def describe(self, now: float, pinned: bool) -> dict[str, Any]:
        """The model as ``report_models`` and ``berth models ps`` show it."""
        transport = self._transport
        return {
            "alias": self.alias,
            "device": self.device,
            "memory_bytes": self.memory,
            "idle_seconds": 0.0 if self.users else round(max(0.0, now - self.last_used), 3),
            "requests": self.requests,
            "pinned": pinned,
            "loaded_at": self.loaded_at,
            "transport": self.spec.options.transport,
            "pid": None if transport is None else transport.pid,
            "adapters": sorted(self.adapters),
        }
