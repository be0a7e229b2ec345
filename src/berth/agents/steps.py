"""An agent run's steps, the record a run resumes from: the step-store port.

Each step is one thing that happened in the run, in order: a model turn (its output before
guardrails), a guardrail's decision, a tool call about to run, its result, a wait for an
approval, the approval itself (appended by the agent service), the final answer. A run
rebuilds its state from its steps, so after a crash it goes on from the last one recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Step:
    """One recorded step: its number (increasing across all runs), run, type, data, time."""

    seq: int
    job_id: str
    type: str
    data: dict[str, Any]
    at: float

    def line(self) -> dict[str, Any]:
        """The step as a line of ``trace.jsonl``."""
        return {"seq": self.seq, "type": self.type, "at": self.at, **self.data}


class StepStore(Protocol):
    """Where agent runs record their steps (SQL in ``db/agents.py``, a fake beside)."""

    async def append(self, job_id: str, type: str, data: dict[str, Any]) -> Step:
        """Record one step, durably, before returning it."""
        ...

    async def steps(self, job_id: str, after: int = 0) -> list[Step]:
        """The run's steps with ``seq`` above ``after``, in order."""
        ...
