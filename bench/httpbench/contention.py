"""How much CPU other work on the machine took during a measurement window.

The benchmark shares its cores with whatever else runs (on the reference machine, other
engineers' test suites). A torch forward pass on 2 threads slows down many times over when
another process takes one of the 2 cores, so each window is metered: the CPU time the whole
machine spent, minus what this process and its descendants (the server under test, wrk)
spent, over the window's length, is the load from outside, in cores. A window disturbed by
more than a limit is run again, and the least disturbed try is kept."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TypeVar

import psutil

T = TypeVar("T")
QUIET_SAMPLE_S = 1.0


@dataclass(frozen=True, slots=True)
class Share:
    """CPU taken from outside the benchmark during one window, in cores (1.0 = one core)."""

    other_cores: float
    steal_cores: float
    """Taken by the hypervisor for other virtual machines."""
    tries: int = 1


def _own_cpu_s() -> float:
    me = psutil.Process(os.getpid())
    total = 0.0
    for member in [me, *me.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            times = member.cpu_times()
            total += times.user + times.system + times.children_user + times.children_system
    return total


def _sample() -> tuple[float, float, float, float]:
    machine = psutil.cpu_times()
    busy = machine.user + machine.nice + machine.system + machine.irq + machine.softirq
    return time.monotonic(), busy, machine.steal, _own_cpu_s()


class Meter:
    """Started on creation; ``share()`` reads the outside load since then."""

    def __init__(self) -> None:
        self._start = _sample()

    def share(self) -> Share:
        now = _sample()
        wall, busy, steal, own = (end - start for end, start in zip(now, self._start, strict=True))
        if wall <= 0:
            return Share(0.0, 0.0)
        return Share(max(0.0, busy - own) / wall, steal / wall)


@dataclass(frozen=True, slots=True)
class Patience:
    """How hard to look for an undisturbed window."""

    tries: int
    """Runs at most per window while outside load disturbs it."""
    max_other_cores: float
    """Outside load (in cores) above which a window counts as disturbed."""
    quiet_wait_s: float
    """Seconds to wait, before each try, for the outside load to drop below the limit."""


def wait_for_quiet(limit: float, seconds: float) -> None:
    """Return once a one-second sample shows at most ``limit`` cores of outside load, or after
    ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        meter = Meter()
        time.sleep(QUIET_SAMPLE_S)
        if meter.share().other_cores <= limit:
            return


def least_disturbed(attempt: Callable[[], T], patience: Patience) -> tuple[T, Share]:
    """Run ``attempt`` until a try has at most ``patience.max_other_cores`` of outside load,
    at most ``patience.tries`` times; the least disturbed try and its share."""
    limit = patience.max_other_cores
    tried: list[tuple[T, Share]] = []
    while len(tried) < max(1, patience.tries):
        wait_for_quiet(limit, patience.quiet_wait_s)
        meter = Meter()
        value = attempt()
        tried.append((value, meter.share()))
        if tried[-1][1].other_cores <= limit:
            break
    value, share = min(tried, key=lambda pair: pair[1].other_cores)
    return value, replace(share, tries=len(tried))
