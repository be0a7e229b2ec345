"""The one suite every file-store adapter passes: memory, SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from berth import errors
from berth.db.files import SqlFileStore
from berth.db.stores import stores_for
from berth.files.file import FILE_ID_PREFIX, Purpose, StoredFile
from berth.files.memory import MemoryFileStore
from berth.files.store import FileStore
from berth.ids import new_id
from berth.jobs.store import JobStore

pytestmark = pytest.mark.contract
NOW = 1_800_000_000.0


def make_file(purpose: Purpose = Purpose.EVALS, owner: str | None = "key_a") -> StoredFile:
    return StoredFile(
        id=new_id(FILE_ID_PREFIX),
        filename="data.jsonl",
        purpose=purpose,
        bytes=1234,
        sha256="ab" * 32,
        created_at=NOW,
        owner=owner,
        lines=7,
    )


@pytest.fixture
def files(store: JobStore, store_kind: str) -> FileStore:
    found = stores_for(store).files
    assert isinstance(found, MemoryFileStore if store_kind == "memory" else SqlFileStore)
    return found


async def test_a_file_round_trips_every_field(files: FileStore) -> None:
    stored = make_file()
    bare = StoredFile(new_id(FILE_ID_PREFIX), "a.txt", Purpose.ASSISTANTS, 1, "0" * 64, NOW)
    for record in (stored, bare):
        await files.add(record)
    assert await files.get(stored.id) == stored
    assert await files.get(bare.id) == bare


async def test_files_are_listed_by_purpose_owner_and_cursor_in_either_order(
    files: FileStore,
) -> None:
    made = [make_file(Purpose.EVALS, "key_a"), make_file(Purpose.FINE_TUNE, "key_a")]
    made += [make_file(Purpose.EVALS, "key_b"), make_file(Purpose.EVALS, None)]
    for record in made:
        await files.add(record)
    ids = [record.id for record in made]
    assert [f.id for f in await files.list_files()] == ids[::-1]
    assert [f.id for f in await files.list_files(newest_first=False)] == ids
    assert [f.id for f in await files.list_files(purpose=Purpose.EVALS)] == [ids[3], ids[2], ids[0]]
    assert [f.id for f in await files.list_files(owner="key_a")] == [ids[1], ids[0]]
    assert [f.id for f in await files.list_files(after=ids[2])] == [ids[1], ids[0]]
    assert [f.id for f in await files.list_files(after=ids[1], newest_first=False)] == ids[2:]
    assert [f.id for f in await files.list_files(limit=1)] == [ids[3]]


async def test_delete_forgets_and_unknown_ids_raise(files: FileStore) -> None:
    stored = make_file()
    await files.add(stored)
    assert await files.delete(stored.id) == stored
    for call in (files.get(stored.id), files.delete(stored.id)):
        with pytest.raises(errors.UnknownFile, match=stored.id):
            await call
    assert await files.list_files() == []
