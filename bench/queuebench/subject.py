"""The port every queue under test offers the benchmark, and the worker side's arguments."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from .plan import Plan
from .storage import Storage
from .timings import JobTimes


class Subject(Protocol):
    """One queue system as its callers see it, on storage of its own."""

    async def submit(self) -> str:
        """Submit one no-op job; return its id."""
        ...

    async def finished(self) -> int:
        """How many jobs have finished so far."""
        ...

    async def times(self, ids: Sequence[str]) -> dict[str, JobTimes]:
        """When each of these jobs was submitted, started and finished."""
        ...

    def record(self, line: str) -> None:
        """Take in a line a worker process printed (huey's workers report timestamps so)."""
        ...


class SubjectFactory(Protocol):
    """Opens a subject on fresh storage (its schema applied); closes it afterwards."""

    def __call__(self, storage: Storage, plan: Plan) -> AbstractAsyncContextManager[Subject]: ...


@dataclass(frozen=True, slots=True)
class WorkerArgs:
    """What a worker process is told on its command line."""

    system: str
    url: str
    folder: Path
    concurrency: int
    huey_delays: tuple[float, float, float]
    """huey's polling: initial delay, max delay, backoff."""

    def argv(self) -> list[str]:
        initial, most, backoff = self.huey_delays
        return [
            self.system,
            self.url,
            str(self.folder),
            f"--concurrency={self.concurrency}",
            f"--huey-delays={initial},{most},{backoff}",
        ]

    @classmethod
    def of(cls, system: str, storage: Storage, plan: Plan) -> WorkerArgs:
        polling = plan.huey
        delays = (polling.initial_delay_s, polling.max_delay_s, polling.backoff)
        return cls(system, storage.url, storage.folder, plan.concurrency, delays)
