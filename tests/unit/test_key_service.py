from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from pathlib import Path

import pytest

from berth import errors
from berth.app import Berth
from berth.clock import ManualClock
from berth.keys.key import Scope, parse_models, parse_rate, parse_scopes
from berth.keys.limiter import RequestLimiter
from berth.keys.memory import MemoryKeyStore
from berth.services.keys import KeyService
from berth.settings import Settings

pytestmark = pytest.mark.unit


class CountingKeyStore(MemoryKeyStore):
    """The fake, counting writes of ``last_used_at``."""

    def __init__(self) -> None:
        super().__init__()
        self.touches = 0

    async def touch(self, key_id: str, at: float) -> None:
        self.touches += 1
        await super().touch(key_id, at)


@pytest.fixture
def store() -> CountingKeyStore:
    return CountingKeyStore()


@pytest.fixture
def service(store: CountingKeyStore, clock: ManualClock) -> KeyService:
    return KeyService(store, RequestLimiter("memory://"), clock=clock)


async def test_create_returns_the_secret_and_stores_only_its_hash(service: KeyService) -> None:
    created = await service.create("ci", ["jobs,infer"], models=["a,b", "a"], rate_per_minute=60)
    secret, key = created.secret, created.key
    assert secret.startswith("berth_") and len(secret) >= len("berth_") + 32
    assert key.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret.startswith(key.prefix) and len(key.prefix) < len(secret) // 2
    assert secret not in repr(await service.list_keys())
    assert key.id.startswith("key_")
    assert key.scopes == {Scope.JOBS, Scope.INFER}
    assert key.models == ("a", "b")
    assert key.rate_per_minute == 60 and key.max_jobs is None
    other = await service.create("other", ["jobs"])
    assert other.secret != secret and other.key.secret_hash != key.secret_hash


async def test_authenticate_compares_hashes_in_constant_time(
    service: KeyService, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = await service.create("ci", ["jobs"])
    compared: list[tuple[str, str]] = []
    real = hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    key = await service.authenticate(created.secret)
    assert key.id == created.key.id
    assert compared == [(created.key.secret_hash, created.key.secret_hash)]


def last_char_changed(secret: str) -> str:
    return secret[:-1] + ("A" if secret[-1] != "A" else "B")


@pytest.mark.parametrize("mangle", [last_char_changed, str.upper])
async def test_wrong_secrets_are_refused(service: KeyService, mangle: Callable[[str], str]) -> None:
    created = await service.create("ci", ["jobs"])
    for secret in (mangle(created.secret), "sk-not-berth", "", "berth_"):
        with pytest.raises(errors.NotAuthenticated, match="not valid"):
            await service.authenticate(secret)


async def test_revoked_keys_are_refused_at_once(service: KeyService) -> None:
    created = await service.create("ci", ["jobs"])
    await service.authenticate(created.secret)
    key, changed = await service.revoke("ci")
    assert changed and key.revoked
    with pytest.raises(errors.NotAuthenticated, match="'ci' was revoked"):
        await service.authenticate(created.secret)
    assert await service.revoke(created.key.id) == (key, False)


async def test_last_use_is_written_at_most_once_a_minute(
    service: KeyService, store: CountingKeyStore, clock: ManualClock
) -> None:
    created = await service.create("ci", ["jobs"])
    first = await service.authenticate(created.secret)
    assert first.last_used_at == clock.now()
    clock.advance(30)
    await service.authenticate(created.secret)
    assert store.touches == 1
    assert (await store.get(created.key.id)).last_used_at == clock.now() - 30
    clock.advance(31)
    assert (await service.authenticate(created.secret)).last_used_at == clock.now()
    assert store.touches == 2


async def test_find_and_revoke_by_id_or_name(service: KeyService) -> None:
    old = (await service.create("alice", ["jobs"])).key
    await service.revoke("alice")
    new = (await service.create("alice", ["infer"])).key
    assert (await service.find("alice")).id == new.id
    assert (await service.find(old.id)).id == old.id
    await service.revoke(new.id)
    assert (await service.find("alice")).id == new.id
    for missing in ("bob", "key_01nothinghere"):
        with pytest.raises(errors.UnknownApiKey, match=f"'{missing}'.*berth keys ls"):
            await service.revoke(missing)


async def test_names_are_unique_among_active_keys(service: KeyService) -> None:
    await service.create("ci", ["jobs"])
    with pytest.raises(errors.ApiKeyNameTaken, match="berth keys revoke ci"):
        await service.create("ci", ["infer"])


@pytest.mark.parametrize(
    ("name", "scopes", "options", "message"),
    [
        ("ci", ["jobs,root"], {}, "Unknown scope 'root'. Use one or more of infer, jobs, admin"),
        ("ci", [" , "], {}, "at least one scope"),
        ("has space", ["jobs"], {}, "key name 'has space' is not allowed"),
        ("", ["jobs"], {}, "key name '' is not allowed"),
        ("ci", ["jobs"], {"rate_per_minute": 0}, "rate must be between 1 and"),
        ("ci", ["jobs"], {"max_jobs": -1}, "Max jobs must be between 1 and"),
        ("ci", ["jobs"], {"models": ["a,,b"]}, "empty entry"),
    ],
)
async def test_bad_keys_are_refused_and_store_nothing(
    service: KeyService, name: str, scopes: list[str], options: dict[str, object], message: str
) -> None:
    with pytest.raises(errors.InvalidRequest, match=message):
        await service.create(name, scopes, **options)  # type: ignore[arg-type]
    assert await service.list_keys() == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [("60/min", 60), (" 5 / minute ", 5), ("1/m", 1), (None, None)],
)
def test_parse_rate(text: str | None, expected: int | None) -> None:
    assert parse_rate(text) == expected


@pytest.mark.parametrize("text", ["ten/min", "60", "60/s", "-1/min", "0/min", "1.5/min"])
def test_parse_rate_refuses_what_is_not_per_minute(text: str) -> None:
    with pytest.raises(errors.InvalidRequest, match="rate"):
        parse_rate(text)


def test_parse_scopes_and_models() -> None:
    assert parse_scopes(["INFER", "jobs, admin", "metrics"]) == set(Scope)
    assert parse_models(None) is None
    assert parse_models(["x", "y,x"]) == ("x", "y")


async def test_scopes_and_model_allowlist(service: KeyService) -> None:
    key = (await service.create("ci", ["infer"], models=["qwen3-0.6b"])).key
    KeyService.check_scope(key, Scope.INFER)
    with pytest.raises(errors.PermissionDenied, match=r"lacks the 'jobs' scope \(it has: infer\)"):
        KeyService.check_scope(key, Scope.JOBS)
    KeyService.check_model(key, "qwen3-0.6b")
    refusal = r"may not use the model 'big'; it may use: qwen3-0\.6b\."
    with pytest.raises(errors.PermissionDenied, match=refusal):
        KeyService.check_model(key, "big")
    KeyService.check_model(None, "big")
    anything = (await service.create("all", ["infer"])).key
    KeyService.check_model(anything, "big")


async def test_rate_limit_counts_a_moving_minute(service: KeyService) -> None:
    limited = (await service.create("ci", ["jobs"], rate_per_minute=2)).key
    free = (await service.create("free", ["jobs"])).key
    await service.admit(limited)
    await service.admit(limited)
    with pytest.raises(errors.RateLimited, match="rate of 2 requests per minute") as caught:
        await service.admit(limited)
    assert 1 <= caught.value.retry_after <= 60
    for _ in range(100):
        await service.admit(free)


async def test_the_composition_root_picks_the_fake_for_the_memory_store(
    tmp_path: Path,
) -> None:
    berth = Berth(Settings(home=tmp_path, database_url="memory://"))
    assert isinstance(berth.services.keys.store, MemoryKeyStore)
    with pytest.raises(errors.ConfigError, match="BERTH_RATE_LIMIT_STORAGE"):
        Berth(Settings(home=tmp_path, database_url="memory://", rate_limit_storage="nosuch://x"))
