"""A training run's memory in the pool's budget: it evicts idle models, waits while pinned
ones hold the room, counts against loads while held, and is given back at the end."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from berth import errors
from berth.models.spec import ModelSpec
from berth.pool.pool import ModelPool
from tests.pools import make_pool, spec

pytestmark = pytest.mark.unit


def sized(alias: str, size: int = 100, **options: Any) -> ModelSpec:
    return spec(alias, runner_options={"memory_bytes": size}, **options)


def loaded(pool: ModelPool) -> list[str]:
    return sorted(model["alias"] for model in pool.describe())


async def test_a_reservation_evicts_idle_models_and_counts_against_loads() -> None:
    async with make_pool([sized("a"), sized("b")], budget={"cpu": 250}) as pool:
        await pool.run("a", ["x"])
        await pool.run("b", ["x"])
        async with pool.reserve("fine-tune ftjob-1", "cpu", 150):
            assert loaded(pool) == ["b"]
            assert pool.memory()["cpu"]["held"] == 250
            await pool.run("a", ["x"])
            assert loaded(pool) == ["a"]
            assert pool.memory()["cpu"]["held"] == 250
            pool.pin("a")
            with pytest.raises(errors.MemoryBudgetExceeded, match="'fine-tune ftjob-1' holds"):
                await pool.run("b", ["x"])
        assert pool.memory()["cpu"]["held"] == 100
        await pool.run("b", ["x"])
        assert loaded(pool) == ["a", "b"]


async def test_a_reservation_waits_while_pinned_models_hold_the_room() -> None:
    async with make_pool([sized("kept", 200, pinned=True)], budget={"cpu": 250}) as pool:
        await pool.load("kept")
        entered = asyncio.Event()

        async def train() -> None:
            async with pool.reserve("fine-tune ftjob-2", "cpu", 100):
                entered.set()

        waiting = asyncio.create_task(train())
        await asyncio.sleep(1.5)
        assert not entered.is_set() and loaded(pool) == ["kept"]
        pool.pin("kept", False)
        await asyncio.wait_for(waiting, 5)
        assert entered.is_set() and loaded(pool) == []
        with pytest.raises(errors.MemoryBudgetExceeded, match="more than the whole budget"):
            async with pool.reserve("fine-tune ftjob-3", "cpu", 1000):
                pass
