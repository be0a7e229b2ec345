"""The memory budget's choices: what to evict, in which order, and what it says when it can't."""

from __future__ import annotations

import pytest

from berth import errors
from berth.pool.budget import Budget, Holder, format_bytes

pytestmark = pytest.mark.unit
MIB = 2**20


def holder(
    alias: str, mib: int, last_used: float, *, pinned: bool = False, busy: bool = False
) -> Holder:
    return Holder(alias, mib * MIB, pinned, busy, last_used)


def budget(mib: int) -> Budget:
    return Budget({"cpu": f"{mib}MiB"}, default=lambda device: 0)


def test_nothing_is_evicted_when_the_load_fits() -> None:
    assert budget(100).plan("cpu", "new", 40 * MIB, [holder("a", 50, 1.0)]) == []


def test_idle_models_are_evicted_least_recently_used_first() -> None:
    holders = [holder("recent", 30, 3.0), holder("oldest", 30, 1.0), holder("middle", 30, 2.0)]
    assert budget(100).plan("cpu", "new", 30 * MIB, holders) == ["oldest"]
    assert budget(100).plan("cpu", "new", 60 * MIB, holders) == ["oldest", "middle"]


def test_pinned_and_busy_models_are_never_evicted() -> None:
    holders = [
        holder("pinned", 30, 1.0, pinned=True),
        holder("busy", 30, 2.0, busy=True),
        holder("idle", 30, 3.0),
    ]
    assert budget(100).plan("cpu", "new", 40 * MIB, holders) == ["idle"]


def test_the_refusal_names_what_holds_the_memory() -> None:
    holders = [holder("a", 1100, 1.0, pinned=True), holder("b", 600, 2.0, busy=True)]
    with pytest.raises(errors.MemoryBudgetExceeded) as caught:
        budget(2048).plan("cpu", "c", 512 * MIB, holders)
    message = str(caught.value)
    assert "Cannot load 'c' on cpu: it needs 512.0 MiB" in message
    assert "cpu budget is 2.0 GiB: 'a' holds 1.1 GiB (pinned), 'b' holds 600.0 MiB (busy)" in (
        message
    )
    assert "BERTH_MEMORY_BUDGET" in message


def test_memory_other_processes_hold_counts_against_the_room() -> None:
    holders = [holder("a", 10, 1.0)]
    assert budget(100).plan("cpu", "new", 50 * MIB, holders, free=60 * MIB) == []
    assert budget(100).plan("cpu", "new", 50 * MIB, holders, free=45 * MIB) == ["a"]
    with pytest.raises(errors.MemoryBudgetExceeded, match=r"other processes leave only 5\.0 MiB"):
        budget(100).plan("cpu", "new", 50 * MIB, [holder("a", 10, 1.0, busy=True)], 5 * MIB)


def test_unset_devices_get_the_default_share_and_names_are_normalized() -> None:
    asked: list[str] = []

    def default(device: str) -> int:
        asked.append(device)
        return 7

    configured = Budget({"cuda": "1KiB", "cpu": 3000}, default=default)
    assert configured.limit("cuda:0") == 1024
    assert configured.limit("cpu") == 3000
    assert configured.limit("cuda:1") == 7
    assert asked == ["cuda:1"]


def test_a_bad_budget_is_a_config_error() -> None:
    with pytest.raises(errors.ConfigError, match="'gpu'"):
        Budget({"gpu": "1GiB"})
    with pytest.raises(errors.ConfigError, match="memory_budget for 'cpu'"):
        Budget({"cpu": "lots"})


def test_sizes_read_well() -> None:
    assert [format_bytes(n) for n in (12, 3 * 2**10, 300 * MIB, 3 * 2**30 // 2)] == [
        "12 B",
        "3.0 KiB",
        "300.0 MiB",
        "1.5 GiB",
    ]
