"""Online requests come first: a model busy with a 10,000-text embed job answers one within
one batch's time, however much of the job is still queued."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from berth.jobs.dispatcher import Dispatcher
from berth.jobs.job import NewJob
from berth.jobs.memory import MemoryJobStore
from berth.kinds import embed
from berth.models.spec import ModelSpec
from berth.plugins import PluginRegistry
from berth.runners.contract import RunnerType
from berth.runners.echo import vector_of
from berth.tasks.embed import Embedded, EmbedInput
from berth.tasks.task import Task
from tests.integration.test_embed_job import embed_config
from tests.pools import job_calls, make_pool, spec

pytestmark = pytest.mark.integration
BATCH = 64
DELAY = 0.02


class Recorder:
    """Embeds each text as a fixed vector, taking DELAY per batch; notes each batch's texts."""

    batches: list[list[str]] = []
    lock = threading.Lock()

    def load(self, spec: ModelSpec, path: Path | None, device: str) -> None:
        pass

    def run(self, batch: Sequence[Any]) -> list[Any]:
        texts = [item.text if isinstance(item, EmbedInput) else str(item) for item in batch]
        with self.lock:
            Recorder.batches.append(texts)
        time.sleep(DELAY)
        return [
            Embedded(vector_of(text, 4), 1) if isinstance(item, EmbedInput) else vector_of(text, 4)
            for item, text in zip(batch, texts, strict=True)
        ]

    def memory_bytes(self) -> int | None:
        return 0

    def close(self) -> None:
        pass


RECORDER = RunnerType("recorder", Recorder, frozenset(Task), "records batches")


async def test_an_online_request_waits_at_most_for_the_running_batch_of_a_big_job(
    tmp_path: Path,
) -> None:
    Recorder.batches = []
    models = [spec("vec", runner="recorder", max_batch_size=BATCH, max_wait_ms=0)]
    registry = PluginRegistry()
    embed.register(registry)
    texts = [f"text {i}" for i in range(10_000)]
    async with (
        make_pool(models, extra=[RECORDER]) as pool,
        MemoryJobStore() as store,
        Dispatcher(store, registry.kinds, embed_config(tmp_path), models=job_calls(pool)),
    ):
        job = (await store.submit(NewJob("embed", {"texts": texts}, model="vec"))).job
        while len(Recorder.batches) < 10:  # the job is well under way
            await asyncio.sleep(0.01)
        waits = []
        for n in range(5):
            before = len(Recorder.batches)
            [answer] = await pool.run("vec", [EmbedInput(text=f"online {n}")])
            assert isinstance(answer, Embedded)
            online = next(i for i, batch in enumerate(Recorder.batches) if f"online {n}" in batch)
            waits.append(online - before)  # job batches that started while it waited
        assert max(waits) <= 1, waits
        assert not (await store.get(job.id)).status.terminal  # the job was still running
        while not (await store.get(job.id)).status.terminal:
            await asyncio.sleep(0.05)
    finished = [t for batch in Recorder.batches for t in batch if t.startswith("text")]
    assert finished == texts  # and the job lost nothing, in order
