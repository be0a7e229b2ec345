"""A remembered turn survives kill -9: a realtime session's long turn is written into its
memory store (its ``vector-ingest`` job is in the job store before ``response.done``), a
``berth worker`` embedding it is killed with SIGKILL mid-file, a new worker resumes after the
chunks the dead one stored, and the turn ends up in the store whole, embedded once, and
recalled by a new session. On SQLite and PostgreSQL (where the server has pgvector).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from berth.app import Berth
from berth.jobs.job import Job, JobStatus
from berth.settings import Settings
from berth.vectors.record import FileStatus
from tests.integration.test_conversation_memory import TEXT_ONLY, talk, until
from tests.integration.test_vector_ingest_crash import KILL_AFTER, SETTINGS
from tests.integration.worker_process import WorkerProcess, worker_env
from tests.vectorstores import require_pgvector

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(400)]
LINES = 1500


def long_turn() -> str:
    return " ".join(
        f"Line {i}: the ferry to island number {i} leaves at dawn." for i in range(LINES)
    )


async def kill_mid_file(berth: Berth, env: dict[str, str], store_id: str, file_id: str) -> int:
    """Run a worker until it stored some of the file's chunks, SIGKILL it; the chunks stored."""
    vectors = berth.services.vectors
    first = WorkerProcess(env, berth.settings.home / "worker-1.log")
    try:

        async def some_stored() -> bool:
            return await vectors.index.stored(store_id, file_id) >= KILL_AFTER

        await until(some_stored, "chunks stored")
        first.kill()
    finally:
        first.close()
    await asyncio.sleep(0.3)
    return await vectors.index.stored(store_id, file_id)


async def finish_job(berth: Berth, env: dict[str, str], job_id: str) -> Job:
    """Run a second worker until the job ends; the job."""
    second = WorkerProcess(env, berth.settings.home / "worker-2.log")
    try:

        async def job_done() -> bool:
            return (await berth.stores.jobs.get(job_id)).status.terminal

        await until(job_done, "the job's end")
    finally:
        await second.stop()
        second.close()
    assert second.errors() == []
    return await berth.stores.jobs.get(job_id)


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
async def test_a_remembered_turn_survives_a_killed_worker(
    kind: str, tmp_path: Path, store_url_factory: Callable[[str], str]
) -> None:
    require_pgvector(kind)
    home = tmp_path / "home"
    url = store_url_factory(kind)
    settings = Settings(home=home, database_url=url, load_wait_seconds=240)
    async with Berth(settings) as berth:
        vectors = berth.services.vectors
        store = await vectors.create_store(None, name="memory")
        memory: dict[str, Any] = {"vector_store_id": store.id}
        async with talk(berth) as session:
            await session.update(**TEXT_ONLY, max_output_tokens=1, berth_memory=memory)
            told = await session.say(long_turn())
        written = told["berth_memory"]
        file_id, job_id = written["file_id"], written["job_id"]
        queued = await berth.stores.jobs.get(job_id)
        assert queued.status is JobStatus.QUEUED and queued.kind == "vector-ingest"

        env = worker_env(home, url, SETTINGS)
        stored_at_kill = await kill_mid_file(berth, env, store.id, file_id)
        assert (await vectors.get_file(None, store.id, file_id)).status is FileStatus.IN_PROGRESS
        job = await finish_job(berth, env, job_id)
        assert job.status is JobStatus.SUCCEEDED, job.error
        assert job.attempts == 2
        result = job.result
        assert isinstance(result, dict)
        total = result["chunks"]
        assert total > stored_at_kill >= KILL_AFTER
        assert result["resumed_after"] >= stored_at_kill
        assert result["embedded"] == total - result["resumed_after"]
        texts = await vectors.index.texts(store.id, file_id)
        assert (
            len(texts) == len(set(texts)) == total == await vectors.index.stored(store.id, file_id)
        )
        assert texts[0].startswith("User: Line 0:")
        [record] = await vectors.list_files(None, store.id)
        assert (record.file_id, record.status) == (file_id, FileStatus.COMPLETED)

        async with talk(berth) as later:
            await later.update(**TEXT_ONLY, berth_memory={**memory, "max_num_results": 1})
            asked = await later.say("When does the ferry to island number 1234 leave?")
        [cited] = asked["berth_citations"]
        assert cited["file_id"] == file_id and "island number" in cited["quote"]
