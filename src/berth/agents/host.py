"""What an ``agent`` job reaches Berth through (``ctx.agents``): the tools, the step store,
the settings tools read, and the count of sessions running in this process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from berth import metrics
from berth.agents.registry import ToolRegistry
from berth.agents.steps import StepStore
from berth.settings import Settings


@dataclass
class AgentHost:
    """The tool registry (one per process, so its breakers see every run), the steps, and
    the sessions active here."""

    tools: ToolRegistry
    steps: StepStore
    settings: Settings
    active: set[str] = field(default_factory=set)

    @property
    def slots(self) -> int:
        """How many agent sessions this process's dispatcher runs at once (the agent pool's
        size): ``BERTH_KIND_CONCURRENCY``'s ``agent`` entry, never more than
        ``BERTH_CONCURRENCY``."""
        limit = self.settings.kind_concurrency.get("agent", self.settings.concurrency)
        return min(limit, self.settings.concurrency)

    @asynccontextmanager
    async def session(self, job_id: str) -> AsyncIterator[None]:
        """Count one agent session as active while it runs."""
        self.active.add(job_id)
        metrics.agent_sessions.set(len(self.active))
        try:
            yield
        finally:
            self.active.discard(job_id)
            metrics.agent_sessions.set(len(self.active))
