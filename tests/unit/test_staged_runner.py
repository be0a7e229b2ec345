"""Staged runners in the pool: ``prepare`` for the next batch runs beside the model's batch."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from berth.models.spec import ModelSpec
from berth.pool.pool import ModelPool
from berth.runners.contract import RunnerType, StagedRunner
from berth.tasks.task import Task
from tests.pools import make_pool, spec

pytestmark = pytest.mark.unit
PATIENCE_S = 10.0
"""How long a first batch waits for the second one's ``prepare`` (only a safety net: with
the stages overlapping it returns at once)."""


class StagedRecorder:
    """Prepares by upper-casing, runs by prefixing; records which thread did what.

    The model stage of batch ``"first"`` waits until ``prepare`` of a later batch has run,
    which happens only if preparing overlaps the model stage.
    """

    log: list[tuple[str, str, list[Any]]] = []
    later_prepared = threading.Event()
    overlapped: bool | None = None

    def load(self, spec: ModelSpec, path: Path | None, device: str) -> None:
        pass

    def run(self, batch: Sequence[Any]) -> list[Any]:
        return self.run_prepared(self.prepare(batch))

    def prepare(self, batch: Sequence[Any]) -> list[str]:
        StagedRecorder.log.append(("prepare", threading.current_thread().name, list(batch)))
        if "broken" in batch:
            raise ValueError("cannot prepare 'broken'")
        if "first" not in batch:
            StagedRecorder.later_prepared.set()
        return [str(item).upper() for item in batch]

    def run_prepared(self, prepared: list[str]) -> list[Any]:
        StagedRecorder.log.append(("run", threading.current_thread().name, list(prepared)))
        if "FIRST" in prepared:
            StagedRecorder.overlapped = StagedRecorder.later_prepared.wait(PATIENCE_S)
        return [f"out:{item}" for item in prepared]

    def memory_bytes(self) -> int | None:
        return 0

    def close(self) -> None:
        pass


STAGED = RunnerType("staged", StagedRecorder, frozenset(Task), "records its stages")


@pytest.fixture
async def pool() -> AsyncIterator[ModelPool]:
    StagedRecorder.log = []
    StagedRecorder.later_prepared = threading.Event()
    StagedRecorder.overlapped = None
    opened = make_pool([spec("m", runner="staged", max_batch_size=1)], extra=[STAGED])
    await opened.open()
    await opened.load("m")
    yield opened
    await opened.close()


def test_the_recorder_is_a_staged_runner() -> None:
    assert isinstance(StagedRecorder(), StagedRunner)


async def test_the_next_batch_is_prepared_while_the_model_runs_one(pool: ModelPool) -> None:
    first = asyncio.create_task(pool.run("m", ["first"]))
    await asyncio.sleep(0.02)
    second = asyncio.create_task(pool.run("m", ["second"]))
    assert await first == ["out:FIRST"]
    assert await second == ["out:SECOND"]
    assert StagedRecorder.overlapped is True
    threads = {step: name for step, name, _ in StagedRecorder.log}
    assert threads["prepare"] != threads["run"]


async def test_a_batch_that_cannot_be_prepared_fails_alone(pool: ModelPool) -> None:
    StagedRecorder.later_prepared.set()
    with pytest.raises(ValueError, match="cannot prepare 'broken'"):
        await pool.run("m", ["broken"])
    assert await pool.run("m", ["fine"]) == ["out:FINE"]
    assert ("run", ["BROKEN"]) not in [(step, items) for step, _, items in StagedRecorder.log]
