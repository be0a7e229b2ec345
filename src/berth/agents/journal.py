"""A run's steps as it reads and writes them: what was recorded (to resume from), new steps
recorded durably before the run acts on them, each also a line of ``trace.jsonl`` and a job
event."""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from berth.agents.steps import Step, StepStore

TRACE = "trace.jsonl"
Announce = Callable[[Step], Awaitable[None]]


def step_key(type: str, data: dict[str, Any]) -> str:
    """What identifies a step within its run: its type and turn or call."""
    return f"{type}:{data.get('call_id', data.get('turn', ''))}"


class Journal:
    """The steps of one run, recorded ones first."""

    def __init__(self, job_id: str, store: StepStore, trace: Path, announce: Announce) -> None:
        self.job_id = job_id
        self._store = store
        self._trace = trace
        self._announce = announce
        self._found: dict[str, Step] = {}
        self._seen: set[int] = set()

    async def load(self) -> list[Step]:
        """Read what earlier attempts recorded, and write the trace afresh from it."""
        steps = await self._store.steps(self.job_id)
        for step in steps:
            self._note(step)
        self._trace.write_text("".join(json.dumps(s.line()) + "\n" for s in steps))
        return steps

    def get(self, type: str, key: object) -> Step | None:
        """The recorded step of this type for this turn or call, if there is one."""
        return self._found.get(f"{type}:{key}")

    async def record(self, type: str, data: dict[str, Any]) -> Step:
        """Record a step in the store (durable when this returns), then trace and announce."""
        step = await self._store.append(self.job_id, type, data)
        self._note(step)
        self._write(step)
        await self._announce(step)
        return step

    def _write(self, step: Step) -> None:
        with self._trace.open("a") as out:
            out.write(json.dumps(step.line()) + "\n")
            out.flush()
            os.fsync(out.fileno())

    async def newer(self) -> list[Step]:
        """Steps others recorded that this run has not seen (an approval from the API). All
        are read, not those after the last seen: PostgreSQL may commit a lower seq later."""
        steps = [s for s in await self._store.steps(self.job_id) if s.seq not in self._seen]
        for step in steps:
            self._note(step)
            self._write(step)
        return steps

    def _note(self, step: Step) -> None:
        self._found[step_key(step.type, step.data)] = step
        self._seen.add(step.seq)
