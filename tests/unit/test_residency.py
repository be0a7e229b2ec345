"""Residency on the thread transport: single-flight loads, the budget, eviction, keep-alive."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from berth import errors
from berth.clock import ManualClock
from berth.models.spec import ModelSpec
from berth.pool.pool import ModelPool
from berth.runners.contract import RunnerType
from berth.tasks.task import Task
from tests.pools import make_pool, spec

pytestmark = pytest.mark.unit


class CountingRunner:
    """Counts its loads; a load takes ``load_ms`` and fails if told to."""

    loads = 0

    def load(self, spec: ModelSpec, path: Path | None, device: str) -> None:
        CountingRunner.loads += 1
        time.sleep(spec.options.runner_options.get("load_ms", 0) / 1000)
        if spec.options.runner_options.get("fail"):
            raise RuntimeError("weights are missing")

    def run(self, batch: Sequence[Any]) -> list[Any]:
        return list(batch)

    def memory_bytes(self) -> int | None:
        return 10

    def close(self) -> None:
        pass


COUNTING = RunnerType("counting", CountingRunner, frozenset(Task), "counts loads")


def sized(alias: str, size: int = 100, **options: Any) -> ModelSpec:
    """An echo model that reports ``size`` bytes."""
    extra = options.pop("runner_options", {})
    return spec(alias, runner_options={"memory_bytes": size, **extra}, **options)


def loaded(pool: ModelPool) -> list[str]:
    return sorted(model["alias"] for model in pool.describe())


@pytest.fixture
def counting() -> None:
    CountingRunner.loads = 0


@pytest.mark.usefixtures("counting")
async def test_concurrent_requests_for_a_cold_model_share_one_load() -> None:
    model = spec("m", runner="counting", runner_options={"load_ms": 200})
    async with make_pool([model], extra=[COUNTING]) as pool:
        results = await asyncio.gather(*(pool.run("m", [i]) for i in range(20)))
        assert results == [[i] for i in range(20)]
        assert CountingRunner.loads == 1
        await pool.load("m")
        assert CountingRunner.loads == 1


@pytest.mark.usefixtures("counting")
async def test_a_failed_load_fails_every_waiter_and_the_next_request_tries_again() -> None:
    model = spec("m", runner="counting", runner_options={"load_ms": 100, "fail": True})
    async with make_pool([model], extra=[COUNTING]) as pool:
        results = await asyncio.gather(
            *(pool.run("m", ["x"]) for _ in range(3)), return_exceptions=True
        )
        assert CountingRunner.loads == 1
        for result in results:
            assert isinstance(result, errors.ModelLoadFailed)
            assert "Model 'm' could not be loaded by the 'counting' runner" in str(result)
            assert "weights are missing" in str(result)
        with pytest.raises(errors.ModelLoadFailed):
            await pool.load("m")
        assert CountingRunner.loads == 2
        assert pool.describe() == []


async def test_unknown_models_and_runners_are_named() -> None:
    async with make_pool([spec("m", runner="nope")]) as pool:
        with pytest.raises(errors.UnknownModel, match="'other'"):
            await pool.run("other", ["x"])
        with pytest.raises(errors.PluginError, match=r"needs the runner 'nope'.*Known runners"):
            await pool.run("m", ["x"])


async def test_idle_models_are_evicted_least_recently_used_first() -> None:
    clock = ManualClock()
    models = [sized(name) for name in "abc"]
    async with make_pool(models, budget={"cpu": 250}, clock=clock) as pool:
        await pool.run("a", ["x"])
        clock.advance(1)
        await pool.run("b", ["x"])
        clock.advance(1)
        await pool.run("a", ["x"])
        clock.advance(1)
        await pool.run("c", ["x"])
        assert loaded(pool) == ["a", "c"]
        assert pool.memory() == {"cpu": {"budget": 250, "held": 200}}


async def test_pinned_models_are_never_evicted() -> None:
    clock = ManualClock()
    models = [sized("a", pinned=True), sized("b"), sized("c")]
    async with make_pool(models, budget={"cpu": 250}, clock=clock) as pool:
        await pool.run("a", ["x"])
        clock.advance(1)
        await pool.run("b", ["x"])
        clock.advance(1)
        await pool.run("c", ["x"])
        assert loaded(pool) == ["a", "c"]
        pool.pin("c")
        with pytest.raises(errors.MemoryBudgetExceeded) as caught:
            await pool.run("b", ["x"])
        assert "'a' holds 100 B (pinned), 'c' holds 100 B (pinned)" in str(caught.value)
        pool.pin("a", False)
        await pool.run("b", ["x"])
        assert loaded(pool) == ["b", "c"]
        assert {m["alias"]: m["pinned"] for m in pool.describe()} == {"b": False, "c": True}


async def test_the_budget_refusal_names_busy_and_pinned_holders() -> None:
    models = [
        sized("slow", runner_options={"memory_bytes": 600, "delay_ms": 300}),
        sized("kept", 1100, pinned=True),
        sized("big", 500),
    ]
    async with make_pool(models, budget={"cpu": 2000}) as pool:
        await pool.load("kept")
        running = asyncio.create_task(pool.run("slow", ["x"]))
        await asyncio.sleep(0.1)
        with pytest.raises(errors.MemoryBudgetExceeded) as caught:
            await pool.load("big")
        assert await running == ["x"]
    message = str(caught.value)
    assert message.startswith("Cannot load 'big' on cpu: it needs 500 B, and the cpu budget")
    assert "'kept' holds 1.1 KiB (pinned), 'slow' holds 600 B (busy)" in message


async def test_a_model_measured_over_budget_is_unloaded_and_refused_before_the_next_load() -> None:
    models = [spec("huge", runner="counting")]
    CountingRunner.loads = 0
    async with make_pool(models, budget={"cpu": 5}, extra=[COUNTING]) as pool:
        with pytest.raises(errors.MemoryBudgetExceeded, match="'huge' on cpu: it needs 10 B"):
            await pool.load("huge")
        assert pool.describe() == []
        with pytest.raises(errors.MemoryBudgetExceeded):
            await pool.load("huge")
        assert CountingRunner.loads == 1


async def test_models_idle_past_keep_alive_are_unloaded() -> None:
    clock = ManualClock()
    models = [sized("short", keep_alive=10), sized("pinned", keep_alive=10, pinned=True)]
    models.append(sized("forever", keep_alive=None))
    async with make_pool(models, clock=clock) as pool:
        for alias in ("short", "pinned", "forever"):
            await pool.load(alias)
        clock.advance(9)
        assert await pool.expire() == []
        await pool.run("short", ["x"])
        clock.advance(9)
        assert await pool.expire() == []
        clock.advance(1)
        assert await pool.expire() == ["short"]
        clock.advance(10_000)
        assert await pool.expire() == []
        assert loaded(pool) == ["forever", "pinned"]


async def test_the_keep_alive_task_unloads_on_its_own() -> None:
    async with make_pool([sized("brief", keep_alive=0.1)]) as pool:
        await pool.load("brief")
        for _ in range(100):
            if not pool.describe():
                break
            await asyncio.sleep(0.02)
        assert pool.describe() == []


async def test_unload_waits_for_running_calls_then_the_next_call_loads_again() -> None:
    async with make_pool([sized("m", runner_options={"delay_ms": 200})]) as pool:
        running = asyncio.create_task(pool.run("m", ["x"]))
        await asyncio.sleep(0.05)
        assert await pool.unload("m") is True
        assert running.done() and running.result() == ["x"]
        assert pool.describe() == []
        assert await pool.unload("m") is False
        assert await pool.run("m", ["y"]) == ["y"]
        assert loaded(pool) == ["m"]


async def test_describe_says_what_report_models_needs() -> None:
    clock = ManualClock()
    async with make_pool([sized("m")], clock=clock) as pool:
        await pool.run("m", ["x", "y"])
        await pool.run("m", ["z"])
        clock.advance(2.5)
        [model] = pool.describe()
    assert model == {
        "alias": "m",
        "device": "cpu",
        "memory_bytes": 100,
        "idle_seconds": 2.5,
        "requests": 2,
        "pinned": False,
        "loaded_at": clock.now() - 2.5,
        "transport": "thread",
        "pid": None,
        "adapters": [],
    }


async def test_streams_come_chunk_by_chunk() -> None:
    async with make_pool([spec("m"), spec("plain", runner="counting")], extra=[COUNTING]) as pool:
        chunks = [chunk async for chunk in pool.stream("m", {"text": "hello big world"})]
        assert chunks == ["hello", "big", "world"]
        both = await asyncio.gather(
            *(collect(pool.stream("m", text)) for text in ("one two", "three"))
        )
        assert both == [["one", "two"], ["three"]]
        with pytest.raises(errors.InvalidRequest, match="'plain' cannot stream"):
            await collect(pool.stream("plain", "x"))


class TickingRunner:
    """Streams numbered ticks per input until told to stop; records how far each got."""

    made: dict[str, int] = {}

    def load(self, spec: ModelSpec, path: Path | None, device: str) -> None:
        pass

    def run(self, batch: Sequence[Any]) -> list[Any]:
        return list(batch)

    def stream(
        self, batch: Sequence[Any], cancelled: Any = lambda index: False
    ) -> Iterator[tuple[int, Any]]:
        for tick in range(500):
            live = [i for i in range(len(batch)) if not cancelled(i)]
            for index in live:
                TickingRunner.made[batch[index]] = tick + 1
                yield index, tick
            time.sleep(0.002)

    def memory_bytes(self) -> int | None:
        return 10

    def close(self) -> None:
        pass


TICKING = RunnerType("ticking", TickingRunner, frozenset(Task), "ticks", streaming=True)


async def test_a_caller_that_stops_listening_stops_its_inputs_work() -> None:
    TickingRunner.made = {}
    async with make_pool([spec("t", runner="ticking")], extra=[TICKING]) as pool:

        async def first(text: str, count: int) -> list[Any]:
            chunks = pool.stream("t", text)
            got = [await anext(chunks) for _ in range(count)]
            await chunks.aclose()  # type: ignore[attr-defined]
            return got

        async def whole(text: str) -> list[Any]:
            return await collect(pool.stream("t", text))

        short, full = await asyncio.gather(first("short", 3), whole("long"))
        assert short == [0, 1, 2]
        assert full == list(range(500))
        # The batch went on for "long"; "short" stopped within a few ticks of its caller leaving.
        assert TickingRunner.made["long"] == 500
        assert TickingRunner.made["short"] < 50

        # When every input of a batch is cancelled, the runner's iterator is closed.
        assert await first("alone", 2) == [0, 1]
        assert TickingRunner.made["alone"] < 50
        assert await pool.run("t", ["after"]) == ["after"]


async def collect(chunks: Any) -> list[Any]:
    return [chunk async for chunk in chunks]


async def test_the_pool_says_when_it_is_not_open() -> None:
    pool = make_pool([spec("m")])
    with pytest.raises(errors.PoolClosed, match="Cannot run: the model pool is new"):
        await pool.run("m", ["x"])
    async with pool:
        assert await pool.run("m", ["x"]) == ["x"]
    with pytest.raises(errors.PoolClosed, match="Cannot load a model: the model pool is closed"):
        await pool.load("m")
    assert pool.describe() == []


async def test_closing_fails_queued_calls_and_finishes_running_ones() -> None:
    pool = make_pool([spec("m", max_batch_size=1, runner_options={"delay_ms": 200})])
    await pool.open()
    running = asyncio.create_task(pool.run("m", ["first"]))
    await asyncio.sleep(0.1)
    queued = [asyncio.create_task(pool.run("m", [n])) for n in ("ahead", "queued")]
    await asyncio.sleep(0.01)
    await pool.close()
    assert await running == ["first"]
    assert await queued[0] == ["ahead"]
    with pytest.raises(errors.PoolClosed, match="the pool is closing"):
        await queued[1]


class OnlineRunner(CountingRunner):
    """Tries to reach the network while it loads."""

    def load(self, spec: ModelSpec, path: Path | None, device: str) -> None:
        socket.create_connection(("models.example.com", 443), timeout=5)


async def test_a_runner_in_a_thread_cannot_reach_the_network_when_offline() -> None:
    online = RunnerType("online", OnlineRunner, frozenset(Task), "reaches out")
    async with make_pool([spec("m", runner="online")], extra=[online]) as pool:
        with pytest.raises(errors.ModelLoadFailed, match="NetworkForbidden: Berth is offline"):
            await pool.load("m")
