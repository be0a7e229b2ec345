"""Time as a port: the system clock, and a manual clock for tests of backoff and leases."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Wall-clock seconds since the Unix epoch."""

    def now(self) -> float: ...


class SystemClock:
    """The machine's clock. Hosts sharing one database should keep theirs in sync (NTP)."""

    def now(self) -> float:
        return time.time()


class ManualClock:
    """A clock that moves only when told to; for tests."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self._now = start

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds
