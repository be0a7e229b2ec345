"""The memory budget: how many bytes loaded models may hold per device, and who makes room.

Pure logic, no I/O: the residency passes in who holds what; :meth:`Budget.plan` answers which
idle models to unload (least recently used first) or raises
:class:`~berth.errors.MemoryBudgetExceeded` naming what holds the memory.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from berth import errors
from berth.models.spec import parse_bytes
from berth.pool import device as devices


@dataclass(frozen=True)
class Holder:
    """One model that holds (or reserves) memory on a device."""

    alias: str
    bytes: int
    pinned: bool
    busy: bool
    """Serving requests, loading or unloading: not evictable now."""
    last_used: float

    @property
    def evictable(self) -> bool:
        return not (self.pinned or self.busy)

    def __str__(self) -> str:
        notes = [note for note, on in (("pinned", self.pinned), ("busy", self.busy)) if on]
        suffix = f" ({', '.join(notes)})" if notes else ""
        return f"'{self.alias}' holds {format_bytes(self.bytes)}{suffix}"


def format_bytes(count: int) -> str:
    """``1.5 GiB``, ``300.0 MiB``, ``12 B``."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(count) >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} B"


def parse_budgets(configured: Mapping[str, str | int]) -> dict[str, int]:
    """The configured budgets by normalized device; raises ConfigError on a bad entry."""
    budgets: dict[str, int] = {}
    for name, size in configured.items():
        try:
            budgets[devices.normalize(name)] = parse_bytes(size)
        except ValueError as exc:
            raise errors.ConfigError(f"memory_budget for '{name}': {exc}") from exc
    return budgets


class Budget:
    """Bytes per device: the configured ones, else a share of what the device has."""

    def __init__(
        self,
        configured: Mapping[str, str | int],
        default: Callable[[str], int] = devices.default_budget,
    ) -> None:
        self._limits = parse_budgets(configured)
        self._default = default

    def limit(self, device: str) -> int:
        """The budget of ``device`` in bytes."""
        if device not in self._limits:
            self._limits[device] = self._default(device)
        return self._limits[device]

    def plan(
        self,
        device: str,
        alias: str,
        needed: int,
        holders: Sequence[Holder],
        free: int | None = None,
    ) -> list[str]:
        """The models to unload so that ``alias`` can hold ``needed`` more bytes.

        ``holders`` are the other models on the device; ``free`` is what the device itself
        reports free (other processes' memory counts against it). Raises
        MemoryBudgetExceeded if unloading every idle, unpinned model would not be enough.
        """
        limit = self.limit(device)
        room = limit - sum(holder.bytes for holder in holders)
        if free is not None:
            room = min(room, free)
        missing = needed - room
        victims: list[str] = []
        for holder in sorted(holders, key=lambda h: h.last_used):
            if missing <= 0:
                break
            if holder.evictable:
                victims.append(holder.alias)
                missing -= holder.bytes
        if missing > 0:
            raise errors.MemoryBudgetExceeded(
                self._explain(device, alias, needed, holders, limit, free)
            )
        return victims

    def _explain(
        self,
        device: str,
        alias: str,
        needed: int,
        holders: Sequence[Holder],
        limit: int,
        free: int | None,
    ) -> str:
        held = ", ".join(str(h) for h in sorted(holders, key=lambda h: -h.bytes)) or "no models"
        others = ""
        if free is not None and free < limit - sum(h.bytes for h in holders):
            others = f"; other processes leave only {format_bytes(free)} free"
        return (
            f"Cannot load '{alias}' on {device}: it needs {format_bytes(needed)}, and the "
            f"{device} budget is {format_bytes(limit)}: {held}{others}. Unpin or unload a "
            f"model, wait for busy ones, or raise the budget (BERTH_MEMORY_BUDGET, e.g. "
            f'\'{{"{device}": "16GiB"}}\').'
        )
