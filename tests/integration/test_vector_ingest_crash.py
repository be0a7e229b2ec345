"""Ingestion survives kill -9: a ``berth worker`` embedding a long file into a vector store is
killed with SIGKILL mid-file, a new worker takes the job once its lease expires, and goes on
after the chunks the dead one had stored: those are not embedded again, none is lost or
stored twice, and the file completes. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from pathlib import Path

import pytest

from berth.app import Berth
from berth.jobs.job import JobStatus
from berth.settings import Settings
from berth.vectors.record import FileStatus
from tests.integration.worker_process import WorkerProcess, worker_env
from tests.vectorstores import require_pgvector

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(300)]
SETTINGS = {
    "BERTH_LEASE_SECONDS": "1.5",
    "BERTH_HEARTBEAT_SECONDS": "0.3",
    "BERTH_REAP_SECONDS": "0.3",
    "BERTH_POLL_SECONDS": "0.2",
    "BERTH_DRAIN_SECONDS": "5",
}
STATIC = {"type": "static", "static": {"max_chunk_size_tokens": 100, "chunk_overlap_tokens": 0}}
KILL_AFTER = 48
"""Chunks stored (three of the job's batches) before the worker is killed."""


def long_text() -> str:
    return " ".join(f"Line {i}: the tide came in at the harbour number {i}." for i in range(900))


async def wait_until(check: Callable[[], object], seconds: float, what: str) -> None:
    async with asyncio.timeout(seconds):
        while not await check():  # type: ignore[misc]
            await asyncio.sleep(0.05)


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
async def test_a_killed_ingest_resumes_after_the_stored_chunks(
    kind: str, tmp_path: Path, store_url_factory: Callable[[str], str]
) -> None:
    require_pgvector(kind)
    home = tmp_path / "home"
    url = store_url_factory(kind)
    settings = Settings(home=home, database_url=url, load_wait_seconds=240)
    async with Berth(settings) as berth:
        vectors = berth.services.vectors
        uploaded = await berth.services.files.upload(
            None, "tides.txt", "assistants", io.BytesIO(long_text().encode())
        )
        store = await vectors.create_store(None, file_ids=[uploaded.id], chunking_strategy=STATIC)
        record = await vectors.get_file(None, store.id, uploaded.id)
        assert record.job_id is not None
        env = worker_env(home, url, SETTINGS)
        first = WorkerProcess(env, home / "worker-1.log")
        try:

            async def some_stored() -> bool:
                return await vectors.index.stored(store.id, uploaded.id) >= KILL_AFTER

            await wait_until(some_stored, 120, "chunks stored")
            first.kill()
        finally:
            first.close()
        await asyncio.sleep(0.3)
        stored_at_kill = await vectors.index.stored(store.id, uploaded.id)
        assert stored_at_kill >= KILL_AFTER
        assert (
            await vectors.get_file(None, store.id, uploaded.id)
        ).status is FileStatus.IN_PROGRESS
        second = WorkerProcess(env, home / "worker-2.log")
        try:

            async def job_done() -> bool:
                return (await berth.stores.jobs.get(record.job_id or "")).status.terminal

            await wait_until(job_done, 180, "the job's end")
        finally:
            await second.stop()
            second.close()
        assert second.errors() == []
        job = await berth.stores.jobs.get(record.job_id)
        assert job.status is JobStatus.SUCCEEDED, job.error
        assert job.attempts == 2
        result = job.result
        assert isinstance(result, dict)
        total = result["chunks"]
        assert result["resumed_after"] >= stored_at_kill
        assert result["embedded"] == total - result["resumed_after"] < total
        assert await vectors.index.stored(store.id, uploaded.id) == total
        texts = await vectors.index.texts(store.id, uploaded.id)
        assert len(texts) == len(set(texts)) == total
        assert texts[0].startswith("Line 0:") and texts[-1].endswith("harbour number 899.")
        done = await vectors.get_file(None, store.id, uploaded.id)
        assert done.status is FileStatus.COMPLETED
        found = await vectors.search(None, store.id, ["the tide at harbour number 417"])
        assert found
