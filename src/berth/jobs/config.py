"""The dispatcher's knobs, shared by the dispatcher and the supervisors it starts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from berth.settings import Settings


@dataclass(frozen=True)
class DispatcherConfig:
    """The dispatcher's knobs; see :class:`~berth.settings.Settings` for their meaning."""

    outputs_dir: Path
    home: Path
    concurrency: int = 4
    kind_concurrency: Mapping[str, int] = field(default_factory=dict)
    lease_seconds: float = 30.0
    heartbeat_seconds: float = 5.0
    poll_seconds: float = 1.0
    reap_seconds: float = 5.0
    retry_base_seconds: float = 1.0
    retry_max_seconds: float = 300.0
    cancel_grace_seconds: float = 10.0
    drain_seconds: float = 30.0
    data_dirs: tuple[Path, ...] = ()
    """Folders besides ``home`` that job inputs may name files in."""

    @classmethod
    def from_settings(cls, settings: Settings) -> DispatcherConfig:
        return cls(
            outputs_dir=settings.outputs_dir,
            home=settings.home,
            concurrency=settings.concurrency,
            kind_concurrency=dict(settings.kind_concurrency),
            lease_seconds=settings.lease_seconds,
            heartbeat_seconds=settings.heartbeat_seconds,
            poll_seconds=settings.poll_seconds,
            reap_seconds=settings.reap_seconds,
            retry_base_seconds=settings.retry_base_seconds,
            retry_max_seconds=settings.retry_max_seconds,
            cancel_grace_seconds=settings.cancel_grace_seconds,
            drain_seconds=settings.drain_seconds,
            data_dirs=tuple(settings.data_dirs),
        )
