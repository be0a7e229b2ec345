"""Models as callers see them: the catalog with each entry's state, pull, verify, remove, and
what the workers hold. Shared by the CLI, the HTTP API and the web UI."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from berth import errors
from berth.jobs.job import JsonValue
from berth.jobs.store import WorkerRegistry
from berth.jobs.workers import WorkerInfo
from berth.models.cache import ModelCache
from berth.models.catalog import Catalog
from berth.models.manifest import Manifest, ModelState
from berth.models.pull import ProgressSink
from berth.models.spec import ModelSpec, NoSource
from berth.models.verify import VerifyReport
from berth.runners.contract import RunnerType

N = TypeVar("N", int, float)


@dataclass(frozen=True)
class ModelStatus:
    """One catalog entry and where it stands."""

    spec: ModelSpec
    state: ModelState
    """``loaded`` when a live worker holds it, otherwise the cache's state."""
    cache_state: ModelState
    size_bytes: int | None
    revision: str | None
    """For a pulled hub model, the commit it was pulled at."""
    origin: str
    """The catalog it comes from (built-in or the user's file)."""
    loaded_on: tuple[str, ...]
    """Ids of the live workers that hold it."""
    runner_installed: bool | None
    """Whether its runner plugin is installed here (None: not known)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "alias": self.spec.alias,
            "task": self.spec.task.value,
            "runner": self.spec.runner,
            "source": self.spec.source,
            "state": self.state.value,
            "cache_state": self.cache_state.value,
            "bytes": self.size_bytes,
            "revision": self.revision,
            "origin": self.origin,
            "loaded_on": list(self.loaded_on),
            "runner_installed": self.runner_installed,
            "description": self.spec.description,
        }


@dataclass(frozen=True)
class LoadedModel:
    """A model one worker's pool holds, as the worker last reported it."""

    worker_id: str
    host: str
    alias: str
    device: str | None
    memory_bytes: int | None
    idle_seconds: float | None
    requests: int | None
    pinned: bool
    loaded_at: float | None
    adapters: tuple[str, ...] = ()
    """The fine-tuned models it answers for, when it hosts their base's adapters."""

    @classmethod
    def from_report(cls, worker: WorkerInfo, report: Mapping[str, JsonValue]) -> LoadedModel:
        """Read one entry of ``WorkerInfo.models``, tolerating missing or odd fields."""
        return cls(
            worker_id=worker.id,
            host=worker.host,
            alias=str(report.get("alias", "?")),
            device=_text(report.get("device")),
            memory_bytes=_number(report.get("memory_bytes"), int),
            idle_seconds=_number(report.get("idle_seconds"), float),
            requests=_number(report.get("requests"), int),
            pinned=bool(report.get("pinned", False)),
            loaded_at=_number(report.get("loaded_at"), float),
            adapters=_names(report.get("adapters")),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "worker": self.worker_id,
            "host": self.host,
            "alias": self.alias,
            "device": self.device,
            "memory_bytes": self.memory_bytes,
            "idle_seconds": self.idle_seconds,
            "requests": self.requests,
            "pinned": self.pinned,
            "loaded_at": self.loaded_at,
            "adapters": list(self.adapters),
        }


class Residency(Protocol):
    """The model pool, as model administration needs it."""

    def describe(self) -> list[dict[str, Any]]: ...

    async def load(self, alias: str) -> None: ...

    async def unload(self, alias: str) -> bool: ...

    def pin(self, alias: str, pinned: bool = True) -> None: ...


class ModelService:
    """The catalog, the cache and the workers' reports behind one API.

    ``list_models`` and ``loaded`` read the job store (without one, nothing is loaded).
    ``pull``, ``verify`` and ``remove`` block on disk and network: from async code, run them
    in a thread or as a job.
    """

    def __init__(
        self,
        catalog: Catalog,
        cache: ModelCache,
        store: WorkerRegistry | None = None,
        *,
        runners: Mapping[str, RunnerType] | None = None,
        pool: Residency | None = None,
        live_seconds: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.catalog = catalog
        self.cache = cache
        self.store = store
        self.pool = pool
        self.runners = runners
        self.live_seconds = live_seconds
        self.clock = clock

    def get(self, alias: str) -> ModelSpec:
        """The catalog entry; raises UnknownModel."""
        return self.catalog.get(alias)

    # -- this process's pool ---------------------------------------------------------------

    def _residency(self) -> Residency:
        if self.pool is None:
            raise errors.PoolClosed("This process runs without a model pool.")
        return self.pool

    def resident_here(self) -> list[dict[str, Any]]:
        """The models this process's pool holds (see ``ModelPool.describe``)."""
        return self._residency().describe()

    def resident(self, alias: str) -> dict[str, Any] | None:
        """How this process's pool holds ``alias`` (see ``ModelPool.describe``), if it does:
        for a fine-tuned model, the resident that hosts its adapter and has answered for it."""
        return next((m for m in self.resident_here() if alias in answers_for(m)), None)

    async def load(self, alias: str) -> None:
        """Load ``alias`` now, making room for it within the memory budget."""
        self.catalog.get(alias)
        await self._residency().load(alias)

    async def unload(self, alias: str) -> bool:
        """Unload ``alias`` once its running calls finish; False if it was not loaded."""
        self.catalog.get(alias)
        return await self._residency().unload(alias)

    def pin(self, alias: str, pinned: bool = True) -> None:
        """Pin (never evicted, never expired) or unpin ``alias``, loaded or not."""
        self.catalog.get(alias)
        self._residency().pin(alias, pinned)

    def path_for(self, alias: str) -> Path | None:
        """The verified local folder a runner loads ``alias`` from; never downloads."""
        return self.cache.path_for(self.catalog.get(alias))

    async def list_models(self) -> list[ModelStatus]:
        """Every catalog entry with its state, by alias."""
        holders: dict[str, list[str]] = {}
        for model in await self.loaded():
            for alias in (model.alias, *model.adapters):
                holders.setdefault(alias, []).append(model.worker_id)
        return await asyncio.to_thread(self._statuses, holders)

    async def loaded(self) -> list[LoadedModel]:
        """The models live workers report holding, by worker then alias."""
        if self.store is None:
            return []
        now = self.clock()
        found = [
            LoadedModel.from_report(worker, report)
            for worker in await self.store.workers()
            if now - worker.heartbeat_at <= self.live_seconds
            for report in worker.models
        ]
        return sorted(found, key=lambda model: (model.host, model.worker_id, model.alias))

    async def live_workers(self) -> int:
        """How many workers heartbeat recently."""
        if self.store is None:
            return 0
        now = self.clock()
        workers = await self.store.workers()
        return sum(1 for worker in workers if now - worker.heartbeat_at <= self.live_seconds)

    def pull(self, alias: str, on_progress: ProgressSink | None = None) -> Manifest:
        """Download, verify and record ``alias``'s files (see :meth:`ModelCache.pull`)."""
        return self.cache.pull(self.catalog.get(alias), on_progress)

    def verify(
        self, alias: str | None = None, on_progress: ProgressSink | None = None
    ) -> list[VerifyReport]:
        """Re-hash one model's files, or those of every model that has files (models not in
        the cache are reported as missing).

        Raises ModelNotCached when the one model asked for is not in the cache.
        """
        if alias is None:
            specs = [s for s in self.catalog.specs() if not isinstance(s.parsed_source, NoSource)]
            return [self.cache.verify(spec, on_progress) for spec in specs]
        spec = self.catalog.get(alias)
        report = self.cache.verify(spec, on_progress)
        if report.state is ModelState.MISSING:
            self.cache.path_for(spec)  # raises, saying why: never pulled, other source, ...
        return [report]

    def remove(self, alias: str) -> int:
        """Delete ``alias``'s cached files; return the bytes freed (0 if none were there)."""
        return self.cache.remove(self.catalog.get(alias))

    def _statuses(self, holders: Mapping[str, list[str]]) -> list[ModelStatus]:
        specs = self.catalog.specs()
        return [self._status(spec, tuple(holders.get(spec.alias, ()))) for spec in specs]

    def _status(self, spec: ModelSpec, loaded_on: tuple[str, ...]) -> ModelStatus:
        cache_state = self.cache.state(spec)
        try:
            manifest = self.cache.manifest(spec)
        except errors.ModelCorrupt:
            manifest = None
        return ModelStatus(
            spec=spec,
            state=ModelState.LOADED if loaded_on else cache_state,
            cache_state=cache_state,
            size_bytes=self.cache.size(spec),
            revision=manifest.revision if manifest else None,
            origin=self.catalog.origin(spec.alias),
            loaded_on=loaded_on,
            runner_installed=None if self.runners is None else spec.runner in self.runners,
        )


def answers_for(resident: Mapping[str, Any]) -> list[str]:
    """The aliases a resident (as ``ModelPool.describe`` gives it) answers: its own and those
    of the fine-tuned models it hosts."""
    adapters = resident.get("adapters") or []
    return [str(resident.get("alias")), *(str(name) for name in adapters)]


def _names(value: JsonValue) -> tuple[str, ...]:
    return tuple(str(name) for name in value) if isinstance(value, list) else ()


def _text(value: JsonValue) -> str | None:
    return None if value is None else str(value)


def _number(value: JsonValue, kind: type[N]) -> N | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return kind(value)
