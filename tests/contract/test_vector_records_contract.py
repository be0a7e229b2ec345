"""The one suite every vector-store records adapter passes: memory, SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from berth import errors
from berth.ids import new_id
from berth.vectors.record import (
    BATCH_ID_PREFIX,
    STORE_ID_PREFIX,
    ExpiresAfter,
    FileBatch,
    FileCounts,
    FileStatus,
    StoreFile,
    VectorStore,
)
from berth.vectors.store import FileChanges, StoreChanges, VectorRecords

pytestmark = pytest.mark.contract
NOW = 1_800_000_000.0
STATIC = {"type": "static", "static": {"max_chunk_size_tokens": 800, "chunk_overlap_tokens": 400}}


def make_store(owner: str | None = "key_a", **fields: object) -> VectorStore:
    return VectorStore(
        id=new_id(STORE_ID_PREFIX),
        name="notes",
        model="all-minilm-l6-v2",
        created_at=NOW,
        last_active_at=NOW,
        owner=owner,
        **fields,  # type: ignore[arg-type]
    )


def make_file(store_id: str, batch_id: str | None = None, **fields: object) -> StoreFile:
    return StoreFile(
        store_id=store_id,
        file_id=new_id("file-"),
        status=FileStatus.IN_PROGRESS,
        created_at=NOW,
        chunking=STATIC,
        batch_id=batch_id,
        **fields,  # type: ignore[arg-type]
    )


async def test_a_store_round_trips_and_counts_its_files(records: VectorRecords) -> None:
    store = make_store(
        metadata={"team": "docs"}, expires_after=ExpiresAfter(7), expires_at=NOW + 7 * 86400
    )
    await records.add_store(store)
    assert await records.get_store(store.id) == store
    done = make_file(store.id, usage_bytes=100, attributes={"year": 2024, "lang": "en"})
    await records.add_file(done)
    await records.update_file(store.id, done.file_id, FileChanges(status=FileStatus.COMPLETED))
    await records.add_file(make_file(store.id, usage_bytes=20))
    found = await records.get_store(store.id)
    assert found.file_counts == FileCounts(in_progress=1, completed=1)
    assert found.usage_bytes == 120
    assert found.status(NOW) == "in_progress" and found.status(NOW + 8 * 86400) == "expired"


async def test_stores_are_listed_by_owner_and_cursor_and_updated(records: VectorRecords) -> None:
    made = [make_store("key_a"), make_store("key_b"), make_store("key_a")]
    for store in made:
        await records.add_store(store)
    ids = [s.id for s in made]
    assert [s.id for s in await records.list_stores()] == ids[::-1]
    assert [s.id for s in await records.list_stores(owner="key_a")] == [ids[2], ids[0]]
    assert [s.id for s in await records.list_stores(after=ids[1])] == [ids[0]]
    assert [s.id for s in await records.list_stores(newest_first=False, limit=2)] == ids[:2]
    changed = await records.update_store(
        ids[0], StoreChanges(name="renamed", metadata={"k": "v"}, expires_after=None)
    )
    assert (changed.name, changed.metadata, changed.model) == ("renamed", {"k": "v"}, made[0].model)
    assert (await records.update_store(ids[0], StoreChanges())).name == "renamed"


async def test_files_round_trip_list_update_and_delete(records: VectorRecords) -> None:
    store = make_store()
    await records.add_store(store)
    files = [make_file(store.id, attributes={"n": i, "ok": True}) for i in range(3)]
    for file in files:
        assert await records.add_file(file) == file
    assert await records.get_file(store.id, files[0].file_id) == files[0]
    ids = [f.file_id for f in files]
    assert [f.file_id for f in await records.list_files(store.id)] == ids[::-1]
    assert [f.file_id for f in await records.list_files(store.id, after=ids[2])] == ids[1::-1]
    failed = FileChanges(status=FileStatus.FAILED, last_error={"code": "x", "message": "y"})
    changed = await records.update_file(store.id, ids[1], failed)
    assert changed.status is FileStatus.FAILED and changed.last_error == {
        "code": "x",
        "message": "y",
    }
    assert changed.attributes == {"n": 1, "ok": True}
    only = await records.list_files(store.id, status=FileStatus.FAILED)
    assert [f.file_id for f in only] == [ids[1]]
    assert await records.delete_file(store.id, ids[1]) == changed
    with pytest.raises(errors.UnknownVectorStoreFile, match=ids[1]):
        await records.get_file(store.id, ids[1])
    readded = await records.add_file(
        StoreFile(store.id, ids[0], FileStatus.IN_PROGRESS, NOW + 1, STATIC, {"fresh": "yes"})
    )
    assert await records.get_file(store.id, ids[0]) == readded


async def test_batches_count_their_files_and_cancel_those_in_progress(
    records: VectorRecords,
) -> None:
    store = make_store()
    await records.add_store(store)
    batch = FileBatch(new_id(BATCH_ID_PREFIX), store.id, NOW)
    await records.add_batch(batch)
    files = [make_file(store.id, batch.id) for _ in range(3)]
    for file in files:
        await records.add_file(file)
    await records.add_file(make_file(store.id))
    done = FileChanges(status=FileStatus.COMPLETED)
    await records.update_file(store.id, files[0].file_id, done)
    found = await records.get_batch(store.id, batch.id)
    assert (
        found.file_counts == FileCounts(in_progress=2, completed=1)
        and found.status == "in_progress"
    )
    in_batch = await records.list_files(store.id, batch_id=batch.id)
    assert {f.file_id for f in in_batch} == {f.file_id for f in files}
    cancelled = await records.cancel_batch(store.id, batch.id)
    assert cancelled.status == "cancelled"
    assert cancelled.file_counts == FileCounts(completed=1, cancelled=2)
    outside = await records.list_files(store.id, status=FileStatus.IN_PROGRESS)
    assert len(outside) == 1 and outside[0].batch_id is None


async def test_unknown_ids_raise_and_delete_forgets_everything(records: VectorRecords) -> None:
    store = make_store()
    await records.add_store(store)
    batch = FileBatch(new_id(BATCH_ID_PREFIX), store.id, NOW)
    await records.add_batch(batch)
    await records.add_file(make_file(store.id, batch.id))
    await records.delete_store(store.id)
    for call in (
        records.get_store(store.id),
        records.delete_store(store.id),
        records.update_store(store.id, StoreChanges(name="x")),
        records.add_file(make_file(store.id)),
    ):
        with pytest.raises(errors.UnknownVectorStore, match=store.id):
            await call
    with pytest.raises(errors.UnknownFileBatch, match=batch.id):
        await records.get_batch(store.id, batch.id)
    assert await records.list_files(store.id) == []
