"""The pool on the process transport: real model processes, their crashes and their memory."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psutil
import pytest

from berth import errors
from berth.models.spec import ModelSpec
from berth.pool.pool import ModelPool
from berth.pool.workers import MIN_PART
from berth.runners.contract import RunnerType
from berth.tasks.generate import GenerationRequest
from berth.tasks.task import Task
from tests.pools import make_pool, spec

pytestmark = pytest.mark.integration


class ThreadsRunner:
    """Answers every input with its process's OMP_NUM_THREADS and the torch threads it ran
    with."""

    concurrent = True

    def load(self, spec: ModelSpec, path: Path | None, device: str) -> None:
        import torch  # as real runners do, before their first batch

        self._torch = torch

    def run(self, batch: Sequence[Any]) -> list[Any]:
        time.sleep(0.05)  # so that parts of one batch overlap
        threads = self._torch.get_num_threads()
        return [(os.environ.get("OMP_NUM_THREADS"), threads) for _ in batch]

    def memory_bytes(self) -> int | None:
        return 0

    def close(self) -> None:
        pass


THREADS = RunnerType("threads", ThreadsRunner, frozenset(Task), "reports its math threads")


def pid_of(pool: ModelPool, alias: str) -> int:
    [pid] = [m["pid"] for m in pool.describe() if m["alias"] == alias]
    assert isinstance(pid, int)
    return pid


def model_processes() -> list[psutil.Process]:
    """This process's children that are model processes (not multiprocessing's helpers)."""
    found = []
    for process in psutil.Process().children():
        try:
            if "resource_tracker" not in " ".join(process.cmdline()):
                found.append(process)
        except psutil.NoSuchProcess:
            continue
    return found


def gone(pid: int) -> bool:
    return not psutil.pid_exists(pid)


async def test_a_model_runs_and_streams_in_its_own_process() -> None:
    async with make_pool([spec("m", transport="process")]) as pool:
        assert await pool.run("m", ["a", {"text": "b"}]) == ["a", {"text": "b"}]
        assert [c async for c in pool.stream("m", "one two three")] == ["one", "two", "three"]
        [model] = pool.describe()
        assert model["transport"] == "process"
        assert model["pid"] != os.getpid()
        assert psutil.Process(model["pid"]).parent().pid == os.getpid()


async def test_a_stream_cancelled_by_its_caller_frees_the_model_process() -> None:
    words = " ".join(f"w{i}" for i in range(2000))
    options = {"chunk_delay_ms": 5}
    async with make_pool([spec("m", transport="process", runner_options=options)]) as pool:
        request = GenerationRequest(prompt=words)
        chunks = pool.stream("m", request)
        got = [await anext(chunks) for _ in range(3)]
        await chunks.aclose()  # type: ignore[attr-defined]
        assert [g.text for g in got] == ["w0", " w1", " w2"]
        # Had the model gone on, this would wait behind the 2000 words (10 s).
        assert await asyncio.wait_for(pool.run("m", ["next"]), 5) == ["next"]


async def test_workers_share_the_math_threads_of_their_process() -> None:
    models = [
        spec("shared", runner="threads", transport="process", workers=2, cpu_threads=4),
        spec("set", runner="threads", transport="process", cpu_threads=3),
    ]
    async with make_pool(models, extra=[THREADS]) as pool:
        # A lone part runs on the lead worker with all the threads; of the two parts of a
        # batch, the lead's takes half and the other worker's one (one OpenMP team only).
        assert await pool.run("shared", ["x"]) == [("4", 4)]
        items = [str(i) for i in range(2 * MIN_PART)]
        assert sorted(set(await pool.run("shared", items))) == [("4", 1), ("4", 2)]
        # The lead is ready for the next part before the last answer goes out, so a lone
        # caller's requests all run on it.
        for _ in range(5):
            assert await pool.run("shared", ["x"]) == [("4", 4)]
        assert await pool.run("set", ["x"]) == [("3", 3)]


async def test_two_math_threads_make_two_workers_by_default() -> None:
    models = [
        spec("two", runner="threads", transport="process", cpu_threads=2),
        spec("three", runner="threads", transport="process", cpu_threads=3),
    ]
    async with make_pool(models, extra=[THREADS]) as pool:
        items = [str(i) for i in range(2 * MIN_PART)]
        assert await pool.run("two", items) == [("2", 1)] * len(items)  # split: one each
        assert await pool.run("two", ["x"]) == [("2", 2)]
        assert await pool.run("three", items) == [("3", 3)] * len(items)  # one worker


async def test_a_killed_model_fails_its_work_in_flight_and_loads_again() -> None:
    slow = spec("m", transport="process", runner_options={"delay_ms": 1000})
    async with make_pool([slow]) as pool:
        await pool.load("m")
        first_pid = pid_of(pool, "m")
        in_flight = asyncio.create_task(pool.run("m", ["x"]))
        await asyncio.sleep(0.3)
        os.kill(first_pid, signal.SIGKILL)
        with pytest.raises(errors.ModelCrashed) as caught:
            await in_flight
        message = str(caught.value)
        assert f"Model 'm' crashed: its process (pid {first_pid}) was killed by SIGKILL" in message
        assert "the next request loads the model again" in message
        assert pool.describe() == []
        fast = asyncio.create_task(pool.run("m", ["again"]))
        assert await fast == ["again"]
        assert pid_of(pool, "m") != first_pid


async def test_unloading_ends_the_process_and_the_accounting() -> None:
    async with make_pool([spec("m", transport="process")]) as pool:
        await pool.run("m", ["x"])
        pid = pid_of(pool, "m")
        [model] = pool.describe()
        rss = psutil.Process(pid).memory_info().rss
        assert 0.5 * rss < model["memory_bytes"] < 2 * rss
        assert pool.memory()["cpu"]["held"] == model["memory_bytes"]
        assert await pool.unload("m") is True
        assert gone(pid)
        assert pool.describe() == []
        assert pool.memory() == {}


async def test_the_budget_evicts_across_processes() -> None:
    models = [spec(a, transport="process", runner_options={"memory_bytes": 100}) for a in "abc"]
    async with make_pool(models, budget={"cpu": 250}) as pool:
        await pool.run("a", ["x"])
        await pool.run("b", ["x"])
        pids = {alias: pid_of(pool, alias) for alias in "ab"}
        await pool.run("a", ["x"])
        await pool.run("c", ["x"])
        assert sorted(m["alias"] for m in pool.describe()) == ["a", "c"]
        assert gone(pids["b"]) and not gone(pids["a"])
        assert pool.memory()["cpu"] == {"budget": 250, "held": 200}
        survivors = [pid_of(pool, alias) for alias in "ac"]
    assert all(gone(pid) for pid in survivors)
    assert not model_processes()


async def test_a_load_that_fails_in_the_model_process_says_why() -> None:
    broken = spec("m", transport="process", runner_options={"no_such_option": 1})
    async with make_pool([broken]) as pool:
        started = time.monotonic()
        with pytest.raises(errors.ModelLoadFailed, match="echo runner has no option"):
            await pool.load("m")
        assert time.monotonic() - started < 30
        assert pool.describe() == []
        assert not model_processes()


async def test_inputs_that_cannot_cross_to_the_process_fail_their_batch() -> None:
    async with make_pool([spec("m", transport="process")]) as pool:
        with pytest.raises(errors.InvalidRequest, match="cannot be sent to its process"):
            await pool.run("m", [lambda: None])
        assert await pool.run("m", ["still works"]) == ["still works"]


async def test_the_model_process_outlives_signals_meant_for_the_server() -> None:
    async with make_pool([spec("m", transport="process")]) as pool:
        await pool.load("m")
        pid = pid_of(pool, "m")
        for signum in (signal.SIGINT, signal.SIGTERM):
            os.kill(pid, signum)
        await asyncio.sleep(0.2)
        assert await pool.run("m", ["still here"]) == ["still here"]
        assert pid_of(pool, "m") == pid
    assert gone(pid)
