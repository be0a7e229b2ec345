"""Residency: which models are loaded, and when they load and unload.

Concurrent requests for a cold model share one load (single flight). Loads on one device go
one at a time, so each sees the memory the previous one measured. Before a load the budget
makes room for what the model is expected to need (its last measured size, else its
``memory_estimate``); after the load it checks what was measured. Room comes from idle,
unpinned models, least recently used first. Idle models past their ``keep_alive`` unload.

The table is keyed by route (see :mod:`berth.pool.hosting`): an alias's own resident, or, for
a fine-tuned entry, the one resident hosting its base's adapters, which loads, counts in the
budget, expires and unloads like any other.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

from berth import errors, metrics
from berth.clock import Clock
from berth.models.spec import ModelSpec
from berth.pool import device as devices
from berth.pool.batcher import Batch, Batcher
from berth.pool.budget import Budget, Holder, format_bytes
from berth.pool.hosting import Route, route
from berth.pool.process import ProcessTransport
from berth.pool.resident import Phase, Resident
from berth.pool.thread import ThreadTransport
from berth.pool.transport import Transport
from berth.pool.wire import LoadOrder
from berth.runners.contract import RunnerType
from berth.settings import Settings

log = logging.getLogger(__name__)
SpecSource = Callable[[str], ModelSpec]
PathSource = Callable[[ModelSpec], Path | None]


class Residency:
    """The table of residents and the rules that fill and empty it."""

    def __init__(
        self,
        settings: Settings,
        specs: SpecSource,
        resolve: PathSource,
        runners: Mapping[str, RunnerType],
        clock: Clock,
        on_change: Callable[[], None],
    ) -> None:
        self.budget = Budget(settings.memory_budget)
        self._offline = settings.offline
        self._specs = specs
        self.spec = specs
        """The catalog entry of an alias (UnknownModel if there is none)."""
        self._resolve = resolve
        self._runners = dict(runners)
        self._clock = clock
        self._on_change = on_change
        self._table: dict[str, Resident] = {}
        self._measured: dict[str, int] = {}
        self._pins: dict[str, bool] = {}
        self._device_locks: dict[str, asyncio.Lock] = {}
        self._loads: set[asyncio.Task[None]] = set()
        self._unloads: set[asyncio.Task[None]] = set()
        self._reserved: dict[str, tuple[str, int]] = {}
        """Memory held by work other than models (a training run), by holder: device, bytes."""

    def residents(self) -> list[Resident]:
        return list(self._table.values())

    def pinned(self, resident: Resident) -> bool:
        return self._pins.get(resident.alias, resident.spec.options.pinned)

    def pin(self, alias: str, pinned: bool) -> None:
        self._pins[self.key(alias)] = pinned

    def route(self, alias: str) -> Route:
        """Where requests for ``alias`` go; UnknownModel or PluginError if nowhere."""
        spec = self._specs(alias)
        return route(spec, self._runner(spec))

    def key(self, alias: str) -> str:
        """The key of the resident that answers ``alias`` (the alias itself when the catalog
        or the plugins cannot say)."""
        try:
            return self.route(alias).key
        except (errors.ModelError, errors.PluginError):
            return alias

    def find(self, alias: str) -> Resident | None:
        """The resident (in any phase) that answers ``alias``, if there is one."""
        return self._table.get(self.key(alias))

    def held(self, device: str) -> int:
        """The bytes the models on ``device`` hold or have reserved."""
        models = sum(r.memory for r in self._table.values() if r.device == device)
        return models + sum(n for d, n in self._reserved.values() if d == device)

    def _reservations(self, device: str) -> list[Holder]:
        return [
            Holder(name, nbytes, pinned=True, busy=True, last_used=0.0)
            for name, (held_on, nbytes) in self._reserved.items()
            if held_on == device
        ]

    @contextlib.asynccontextmanager
    async def reserve(
        self, holder: str, device: str, nbytes: int, poll: float = 1.0
    ) -> AsyncIterator[None]:
        """Hold ``nbytes`` of ``device``'s budget while the block runs: idle unpinned models
        are unloaded to make room; while pinned or busy ones hold it, wait for them."""
        device = devices.resolve(device)
        if nbytes > self.budget.limit(device):
            raise errors.MemoryBudgetExceeded(
                f"{holder} needs {format_bytes(nbytes)}, more than the whole budget of {device} "
                f"({format_bytes(self.budget.limit(device))}). Raise BERTH_MEMORY_BUDGET."
            )
        while True:
            if await self._try_reserve(holder, device, nbytes):
                break
            await asyncio.sleep(poll)  # the models holding the room report no event to wait on
        self._on_change()
        try:
            yield
        finally:
            self._reserved.pop(holder, None)
            self._on_change()

    async def _try_reserve(self, holder: str, device: str, nbytes: int) -> bool:
        async with self._device_lock(device):
            others = [r.holder(self.pinned(r)) for r in self._table.values() if r.device == device]
            try:
                victims = self.budget.plan(
                    device, holder, nbytes, others + self._reservations(device)
                )
            except errors.MemoryBudgetExceeded:
                return False
            await self._unload(*(self._table[alias] for alias in victims), reason="evicted")
            self._reserved[holder] = (device, nbytes)
            return True

    def refresh(self) -> None:
        """Measure the ready models again (a model's memory can grow as it serves)."""
        for resident in self._table.values():
            if resident.phase is Phase.READY:
                resident.memory = self._measured[resident.alias] = resident.transport.memory_bytes()

    # -- acquire and release -----------------------------------------------------------------

    async def acquire(self, to: Route) -> Resident:
        """The ready resident of the route ``to``, held for the caller (:meth:`release` it);
        loads it if needed, sharing the load with concurrent callers."""
        while True:
            resident = self._table.get(to.key) or self._begin(to)
            if resident.phase is Phase.READY:
                resident.hold()
                return resident
            if resident.phase is Phase.LOADING:
                resident.hold()
                try:
                    await resident.wait_loaded()
                except BaseException:
                    resident.release(self._clock.now(), counted=False)
                    raise
                if resident.serving:
                    return resident
                resident.release(self._clock.now(), counted=False)
            else:
                await resident.wait_gone()

    def release(self, resident: Resident, counted: bool = True) -> None:
        resident.release(self._clock.now(), counted)

    # -- loading ----------------------------------------------------------------------------

    def _begin(self, to: Route) -> Resident:
        spec = to.spec
        runner = self._runner(spec)
        needed = self._measured.get(to.key, spec.options.memory_estimate or 0)
        resident = Resident(spec, devices.resolve(spec.options.device), runner, needed)
        self._table[to.key] = resident
        task = asyncio.create_task(self._load(resident), name=f"berth-load-{to.key}")
        self._loads.add(task)
        task.add_done_callback(self._loads.discard)
        return resident

    def _runner(self, spec: ModelSpec) -> RunnerType:
        try:
            return self._runners[spec.runner]
        except KeyError:
            known = ", ".join(sorted(self._runners)) or "none"
            raise errors.PluginError(
                f"Model '{spec.alias}' needs the runner '{spec.runner}', which is not "
                f"installed. Known runners: {known}. Install the plugin that provides it."
            ) from None

    async def _load(self, resident: Resident) -> None:
        transport: Transport | None = None
        started = time.perf_counter()
        try:
            async with self._device_lock(resident.device):
                path = await asyncio.to_thread(self._resolve, resident.spec)
                await self._make_room(resident, resident.memory, measured=False)
                transport = self._transport(resident, path)
                report = await transport.open()
                resident.memory = self._measured[resident.alias] = transport.memory_bytes()
                await self._make_room(resident, resident.memory, measured=True)
            options = resident.spec.options
            batcher = Batcher(
                _counting(transport.send, resident.alias),
                options.max_batch_size,
                options.max_wait_ms / 1000,
                joins=resident.runner.joins,
                max_queue=options.max_queue,
                name=f"model '{resident.alias}'",
            )
            if not resident.ready(transport, batcher, self._clock.now()):
                raise errors.ModelLoadFailed(f"Model '{resident.alias}' crashed as it loaded.")
        except BaseException as exc:
            await self._abandon(resident, transport, exc)
            if not isinstance(exc, Exception):
                raise
            return
        seconds = round(time.perf_counter() - started, 3)
        metrics.model_loads.labels(resident.alias, "loaded").inc()
        metrics.model_load_seconds.labels(resident.alias).observe(seconds)
        metrics.model_memory.labels(resident.alias, resident.device).set(resident.memory)
        self._log(
            "model loaded",
            "pool.loaded",
            resident,
            seconds=seconds,
            runner_seconds=round(report.seconds, 3),
            pid=transport.pid,
        )
        self._on_change()

    async def _abandon(
        self, resident: Resident, transport: Transport | None, exc: BaseException
    ) -> None:
        if transport is not None:
            try:
                await asyncio.shield(transport.close())
            except Exception:
                log.exception(
                    "closing a failed load failed",
                    extra={"action": "pool.close_failed", "model": resident.alias},
                )
        self._drop(resident)
        if isinstance(exc, asyncio.CancelledError):
            exc = errors.PoolClosed(f"Loading '{resident.alias}' stopped: the pool closed.")
        resident.load_failed(exc)
        metrics.model_loads.labels(resident.alias, "failed").inc()
        self._log("model load failed", "pool.load_failed", resident, error=str(exc))

    def _transport(self, resident: Resident, path: Path | None) -> Transport:
        spec = resident.spec
        order = LoadOrder(spec, path, resident.device, resident.runner.create, self._offline)
        if spec.options.transport == "thread":
            return ThreadTransport(order)
        return ProcessTransport(order, on_exit=lambda crash: self._crashed(resident, crash))

    def _device_lock(self, device: str) -> asyncio.Lock:
        return self._device_locks.setdefault(device, asyncio.Lock())

    async def _make_room(self, resident: Resident, needed: int, measured: bool) -> None:
        """Unload what the budget says must go for ``resident`` to hold ``needed`` bytes."""
        others = [r for r in self._table.values() if r.device == resident.device]
        others.remove(resident)
        free = None if measured else devices.free_bytes(resident.device)
        victims = self.budget.plan(
            resident.device,
            resident.alias,
            needed,
            [r.holder(self.pinned(r)) for r in others] + self._reservations(resident.device),
            free,
        )
        await self._unload(*(self._table[alias] for alias in victims), reason="evicted")

    # -- unloading --------------------------------------------------------------------------

    async def unload(self, alias: str, reason: str = "requested") -> bool:
        """Unload ``alias`` (for a fine-tuned model: the resident hosting its base's
        adapters) once its running calls finish; False if it was not loaded."""
        resident = self.find(alias)
        if resident is None:
            return False
        if resident.phase is Phase.LOADING:
            try:
                await resident.wait_loaded()
            except errors.BerthError:
                return False
        if resident.phase is not Phase.READY:
            await resident.wait_gone()
            return True
        await self._unload(resident, reason=reason)
        return True

    async def expire(self) -> list[str]:
        """Unload the idle, unpinned models that have outlived their ``keep_alive``."""
        now = self._clock.now()
        expired = [r for r in self._table.values() if self._expired(r, now)]
        await self._unload(*expired, reason="keep_alive")
        return [r.alias for r in expired]

    def _expired(self, resident: Resident, now: float) -> bool:
        keep_alive = resident.spec.options.keep_alive
        return (
            keep_alive is not None
            and resident.idle
            and resident.batcher.idle
            and not self.pinned(resident)
            and now - resident.last_used >= keep_alive
        )

    async def close(self) -> None:
        """Unload everything: queued requests fail, in-flight batches finish first."""
        for task in list(self._loads):
            task.cancel()
        await asyncio.gather(*self._loads, return_exceptions=True)
        closing = [r for r in self._table.values() if r.phase is Phase.READY]
        for resident in self._table.values():
            resident.stop_waiting()
        for resident in closing:
            resident.batcher.fail_queued(
                errors.PoolClosed(f"Cannot run '{resident.alias}': the pool is closing.")
            )
        await self._unload(*closing, reason="closed", wait=False)
        await asyncio.gather(*self._unloads, return_exceptions=True)

    async def _unload(self, *residents: Resident, reason: str, wait: bool = True) -> None:
        """Unload ``residents`` (ready ones), after their running calls unless not ``wait``.

        They are marked and their unloads start before this first yields, and the unloads
        run on if the caller is cancelled: a model is never left half-unloaded.
        """
        tasks = []
        for resident in residents:
            resident.phase = Phase.UNLOADING
            task = asyncio.create_task(self._unload_now(resident, reason, wait))
            self._unloads.add(task)
            task.add_done_callback(self._unloads.discard)
            tasks.append(task)
        if tasks:
            await asyncio.shield(asyncio.gather(*tasks))

    async def _unload_now(self, resident: Resident, reason: str, wait: bool) -> None:
        if wait:
            await resident.wait_idle()
        memory = resident.memory
        try:
            await resident.transport.close()
        finally:
            self._drop(resident)
            resident.gone()
            self._on_change()
            _forget(resident, reason)
        self._log("model unloaded", "pool.unloaded", resident, reason=reason, freed=memory)

    def _crashed(self, resident: Resident, crash: errors.ModelCrashed) -> None:
        if resident.phase is Phase.READY:
            resident.batcher.fail_queued(crash)
        self._drop(resident)
        resident.load_failed(crash)
        _forget(resident, "crash")
        self._on_change()

    def _drop(self, resident: Resident) -> None:
        if self._table.get(resident.alias) is resident:
            del self._table[resident.alias]

    def _log(self, message: str, action: str, resident: Resident, **fields: Any) -> None:
        log.info(
            message,
            extra={
                "action": action,
                "model": resident.alias,
                "device": resident.device,
                "memory": format_bytes(resident.memory),
                **fields,
            },
        )


def _counting(send: Callable[[Batch], None], alias: str) -> Callable[[Batch], None]:
    """``send``, observing each batch's size in ``berth_batch_size``."""
    sizes = metrics.batch_size.labels(alias)

    def counted(batch: Batch) -> None:
        sizes.observe(len(batch.items))
        send(batch)

    return counted


def _forget(resident: Resident, reason: str) -> None:
    """Count an unload and drop the model's memory gauge."""
    metrics.model_evictions.labels(resident.alias, reason).inc()
    with contextlib.suppress(KeyError):
        metrics.model_memory.remove(resident.alias, resident.device)
