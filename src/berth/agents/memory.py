"""The in-memory step store, for tests and ``memory://``."""

from __future__ import annotations

from typing import Any

from berth.agents.steps import Step
from berth.clock import Clock, SystemClock


class MemoryStepStore:
    """A :class:`~berth.agents.steps.StepStore` in a list."""

    def __init__(self, clock: Clock | None = None) -> None:
        self._steps: list[Step] = []
        self._clock = clock or SystemClock()

    async def append(self, job_id: str, type: str, data: dict[str, Any]) -> Step:
        step = Step(len(self._steps) + 1, job_id, type, dict(data), self._clock.now())
        self._steps.append(step)
        return step

    async def steps(self, job_id: str, after: int = 0) -> list[Step]:
        return [s for s in self._steps if s.job_id == job_id and s.seq > after]
