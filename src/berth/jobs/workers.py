"""The workers registry's record: a dispatcher process, as it registered in the store."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from berth.jobs.job import JsonValue


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """A dispatcher process, as registered in the store."""

    id: str
    host: str
    pid: int
    started_at: float
    heartbeat_at: float
    concurrency: int
    running: int = 0
    models: tuple[Mapping[str, JsonValue], ...] = ()
    """The models loaded in this worker's pool, as its pool describes them."""
