"""The composition root: builds the store, the plugins and the services from Settings."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from berth.clock import Clock
from berth.jobs.dispatcher import Dispatcher, DispatcherConfig
from berth.jobs.open import store_from_url
from berth.plugins import PluginRegistry, discover
from berth.services.jobs import JobService
from berth.settings import Settings


class Berth:
    """One Berth: ``async with Berth(settings) as berth:`` opens the store and the services."""

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
        self.jobs = JobService(self.store, self.registry, settings.max_attempts)

    async def __aenter__(self) -> Self:
        self.settings.home.mkdir(parents=True, exist_ok=True)
        await self.store.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.store.__aexit__(exc_type, exc, tb)

    def dispatcher(self) -> Dispatcher:
        """A dispatcher over this Berth's store and kinds (not yet started)."""
        return Dispatcher(
            self.store,
            self.registry.kinds,
            DispatcherConfig.from_settings(self.settings),
            clock=self.clock,
        )
