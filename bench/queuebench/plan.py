"""What one run measures: the matrix of systems, databases and worker counts, and the sizes."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Label:
    """One row of results: a system on a database with a number of worker processes."""

    system: str
    database: str
    workers: int

    def __str__(self) -> str:
        return f"{self.system}/{self.database}/{self.workers}w"


@dataclass(frozen=True, slots=True)
class HueyPolling:
    """huey's consumer polls its queue: these are its delays (huey's defaults: 0.1, 10, 1.15)."""

    initial_delay_s: float = 0.01
    max_delay_s: float = 0.1
    backoff: float = 1.15


@dataclass(frozen=True, slots=True)
class Plan:
    """The sizes and limits of one run."""

    admin_url: str
    jobs: int = 3000
    burst: int = 200
    idle: int = 100
    idle_gap_s: float = 0.05
    concurrency: int = 32
    worker_counts: tuple[int, ...] = (1, 2)
    systems: tuple[str, ...] = ("berth", "huey", "procrastinate")
    databases: tuple[str, ...] = ("sqlite", "postgresql")
    phase_timeout_s: float = 120.0
    huey: HueyPolling = HueyPolling()

    def labels(self, supported: dict[str, tuple[str, ...]]) -> list[Label]:
        """Every row to measure, each peer right after Berth on the same database."""
        rows = []
        for database in self.databases:
            for workers in self.worker_counts:
                for system in self.systems:
                    if database in supported[system]:
                        rows.append(Label(system, database, workers))
        return rows
