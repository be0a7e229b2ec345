"""The one suite every key-store adapter passes: memory, SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from berth import errors
from berth.db.keys import SqlKeyStore
from berth.db.stores import key_store_for, store_from_url
from berth.ids import new_id
from berth.jobs.store import JobStore
from berth.keys.key import KEY_ID_PREFIX, ApiKey, Scope
from berth.keys.memory import MemoryKeyStore
from berth.keys.store import KeyStore

pytestmark = pytest.mark.contract
NOW = 1_800_000_000.0


def make_key(name: str = "ci", prefix: str = "berth_abcdefgh", **fields: object) -> ApiKey:
    key_id = new_id(KEY_ID_PREFIX)
    values: dict[str, object] = {
        "id": key_id,
        "name": name,
        "prefix": prefix,
        "secret_hash": f"{key_id:0>64}"[-64:],
        "scopes": frozenset({Scope.JOBS}),
        "created_at": NOW,
        **fields,
    }
    return ApiKey(**values)  # type: ignore[arg-type]


@pytest.fixture
def keys(store: JobStore, store_kind: str) -> KeyStore:
    """The key store sharing each kind of open job store."""
    found = key_store_for(store)
    expected = MemoryKeyStore if store_kind == "memory" else SqlKeyStore
    assert isinstance(found, expected)
    return found


async def test_a_key_round_trips_every_field(keys: KeyStore) -> None:
    full = make_key(
        scopes=frozenset({Scope.INFER, Scope.JOBS, Scope.ADMIN}),
        models=("qwen3-0.6b", "all-minilm-l6-v2"),
        rate_per_minute=60,
        max_jobs=3,
        last_used_at=NOW + 1.5,
    )
    bare = make_key(name="bare", prefix="berth_zzzzzzzz")
    for key in (full, bare):
        await keys.add(key)
    assert await keys.get(full.id) == full
    assert await keys.get(bare.id) == bare
    assert bare.models is None and bare.rate_per_minute is None and bare.max_jobs is None


async def test_unknown_ids_raise(keys: KeyStore) -> None:
    with pytest.raises(errors.UnknownApiKey, match="key_nope"):
        await keys.get("key_nope")
    with pytest.raises(errors.UnknownApiKey, match="key_nope"):
        await keys.revoke("key_nope", NOW)


async def test_keys_are_found_by_prefix(keys: KeyStore) -> None:
    first = make_key(name="a", prefix="berth_11111111")
    twin = make_key(name="b", prefix="berth_11111111")
    other = make_key(name="c", prefix="berth_22222222")
    for key in (first, twin, other):
        await keys.add(key)
    found = await keys.with_prefix("berth_11111111")
    assert sorted(key.id for key in found) == sorted([first.id, twin.id])
    assert await keys.with_prefix("berth_33333333") == []


async def test_list_is_oldest_first_with_revoked_keys(keys: KeyStore) -> None:
    made = [make_key(name=f"k{i}", created_at=NOW + i) for i in (2, 0, 1)]
    for key in made:
        await keys.add(key)
    await keys.revoke(made[0].id, NOW + 10)
    listed = await keys.list_keys()
    assert [key.name for key in listed] == ["k0", "k1", "k2"]
    assert listed[2].revoked_at == NOW + 10


async def test_an_active_name_cannot_be_reused_until_revoked(keys: KeyStore) -> None:
    first = make_key(name="alice")
    await keys.add(first)
    with pytest.raises(errors.ApiKeyNameTaken, match="already named 'alice'"):
        await keys.add(make_key(name="alice"))
    assert [key.id for key in await keys.list_keys()] == [first.id]
    await keys.revoke(first.id, NOW)
    again = make_key(name="alice")
    await keys.add(again)
    assert [key.id for key in await keys.list_keys()] == [first.id, again.id]


async def test_revoke_happens_once(keys: KeyStore) -> None:
    key = make_key()
    await keys.add(key)
    revoked = await keys.revoke(key.id, NOW + 5)
    assert revoked == dataclasses.replace(key, revoked_at=NOW + 5)
    assert revoked.revoked
    assert (await keys.revoke(key.id, NOW + 9)).revoked_at == NOW + 5
    assert (await keys.get(key.id)).revoked_at == NOW + 5


async def test_touch_records_the_last_use(keys: KeyStore) -> None:
    key = make_key()
    await keys.add(key)
    await keys.touch(key.id, NOW + 3)
    await keys.touch(key.id, NOW + 7)
    await keys.touch("key_unknown", NOW)
    assert await keys.get(key.id) == dataclasses.replace(key, last_used_at=NOW + 7)


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
async def test_sql_keys_live_in_the_job_database(
    kind: str, store_url_factory: Callable[[str], str]
) -> None:
    url = store_url_factory(kind)
    key = make_key()
    async with store_from_url(url) as first:
        await key_store_for(first).add(key)
    closed = key_store_for(first)
    with pytest.raises(errors.StoreClosed):
        await closed.get(key.id)
    async with store_from_url(url) as second:
        assert await key_store_for(second).get(key.id) == key
