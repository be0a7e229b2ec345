"""The composition root: builds the store, the plugins, the model pool and the services from
Settings."""

from __future__ import annotations

import contextlib
from types import TracebackType
from typing import Self

from berth.clock import Clock
from berth.db.stores import store_from_url
from berth.jobs.config import DispatcherConfig
from berth.jobs.context import Background
from berth.jobs.dispatcher import Dispatcher
from berth.jobs.paths import DataRoots
from berth.models.cache import ModelCache
from berth.models.catalog import Catalog
from berth.plugins import PluginRegistry, discover
from berth.pool.pool import ModelPool
from berth.pool.reporter import Reporter
from berth.services.jobs import JobService
from berth.settings import Settings


class Berth:
    """One Berth: ``async with Berth(settings) as berth:`` opens the store and the model pool
    (which loads models only when asked), and closes both on the way out."""

    def __init__(
        self,
        settings: Settings,
        *,
        registry: PluginRegistry | None = None,
        clock: Clock | None = None,
        upgrade: bool = True,
    ) -> None:
        self.settings = settings
        self.registry = registry or discover()
        self.clock = clock
        self.store = store_from_url(settings.resolved_database_url, clock=clock, upgrade=upgrade)
        roots = DataRoots(settings.home, settings.data_dirs)
        self.jobs = JobService(self.store, self.registry, settings.max_attempts, roots)
        self.catalog = Catalog.load(settings, self.registry.runners)
        self.cache = ModelCache(settings)
        self.pool = ModelPool(
            settings, self.catalog.get, self.cache.path_for, self.registry.runners, clock=clock
        )
        self._stack = contextlib.AsyncExitStack()

    async def __aenter__(self) -> Self:
        self.settings.home.mkdir(parents=True, exist_ok=True)
        async with contextlib.AsyncExitStack() as stack:
            await stack.enter_async_context(self.store)
            await stack.enter_async_context(self.pool)
            self._stack = stack.pop_all()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._stack.__aexit__(exc_type, exc, tb)

    def dispatcher(self) -> Dispatcher:
        """A dispatcher over this Berth's store and kinds (not yet started)."""
        return Dispatcher(
            self.store,
            self.registry.kinds,
            DispatcherConfig.from_settings(self.settings),
            clock=self.clock,
            models=Background(self.pool),
        )

    def reporter(self, worker_id: str) -> Reporter:
        """Reports this Berth's loaded models for ``worker_id`` while it is entered."""
        return Reporter(self.pool, self.store, worker_id, every=self.settings.heartbeat_seconds)
