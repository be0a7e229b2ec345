"""API keys over HTTP in-process (ASGI), on a real SQLite store: who may call, and how often."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from berth.app import Berth
from berth.services.keys import KeyService
from berth.settings import Settings
from berth.site import create_app

pytestmark = pytest.mark.integration
LOOPBACK = ("127.0.0.1", 50000)
REMOTE = ("203.0.113.5", 1234)
ECHO = {"kind": "echo", "input": {"hello": "world"}}


class Api:
    """One app over one Berth (no dispatcher, so jobs stay queued); clients from any address."""

    def __init__(self, berth: Berth) -> None:
        self.berth = berth
        self.app = create_app(berth)

    @property
    def keys(self) -> KeyService:
        return self.berth.services.keys

    def client(
        self, address: tuple[str, int] = LOOPBACK, secret: str | None = None
    ) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {secret}"} if secret is not None else {}
        transport = httpx.ASGITransport(app=self.app, client=address)
        return httpx.AsyncClient(transport=transport, base_url="http://test", headers=headers)

    async def secret(self, name: str = "ci", scopes: str = "jobs", **options: Any) -> str:
        return (await self.keys.create(name, [scopes], **options)).secret


OpenApi = Callable[..., AbstractAsyncContextManager[Api]]


@pytest.fixture
def open_api(tmp_path: Path) -> OpenApi:
    @asynccontextmanager
    async def opened(**settings: Any) -> AsyncIterator[Api]:
        async with Berth(Settings(home=tmp_path, **settings)) as berth:
            yield Api(berth)

    return opened


@pytest.fixture
async def api(open_api: OpenApi) -> AsyncIterator[Api]:
    async with open_api() as opened:
        yield opened


def assert_error(response: httpx.Response, status: int, kind: str, message: str) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["type"] == kind
    assert message in error["message"]


async def test_loopback_needs_no_key(api: Api) -> None:
    async with api.client() as client:
        created = await client.post("/v1/jobs", json=ECHO)
        assert created.status_code == 201
        assert (await client.get("/v1/jobs")).status_code == 200
    job = await api.berth.stores.jobs.get(created.json()["id"])
    assert job.owner is None


async def test_keyless_loopback_refuses_changes_that_other_sites_ask_a_browser_for(
    api: Api,
) -> None:
    async with api.client() as client:
        for headers in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
            refused = await client.post("/v1/jobs", json=ECHO, headers=headers)
            assert_error(refused, 403, "permission_error", "Cross-site request refused")
        # Reading is fine, and so is the server's own origin.
        assert (await client.get("/v1/jobs", headers={"Origin": "https://evil.example"})).is_success
        own = await client.post("/v1/jobs", json=ECHO, headers={"Origin": "http://test"})
        assert own.status_code == 201
    assert len(await api.berth.services.jobs.list_jobs(None)) == 1


async def test_others_need_a_key_but_health_stays_open(api: Api) -> None:
    async with api.client(REMOTE) as client:
        for response in (await client.get("/v1/jobs"), await client.post("/v1/jobs", json=ECHO)):
            assert_error(response, 401, "authentication_error", "Authorization: Bearer <key>")
            assert response.headers["www-authenticate"] == "Bearer"
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/readyz")).status_code in (200, 503)
    assert await api.berth.services.jobs.list_jobs(None) == []


async def test_a_key_lets_others_in_and_owns_their_jobs(api: Api) -> None:
    secret = await api.secret()
    async with api.client(REMOTE, secret) as client:
        created = await client.post("/v1/jobs", json=ECHO)
        assert created.status_code == 201
        job_id = created.json()["id"]
        assert (await client.get(f"/v1/jobs/{job_id}")).status_code == 200
    key = await api.keys.find("ci")
    assert (await api.berth.stores.jobs.get(job_id)).owner == key.id
    assert key.last_used_at is not None


@pytest.mark.parametrize("address", [LOOPBACK, REMOTE])
async def test_wrong_keys_are_refused_even_from_loopback(
    api: Api, address: tuple[str, int]
) -> None:
    secret = await api.secret()
    wrong = secret[:-2] + ("xx" if not secret.endswith("xx") else "yy")
    async with api.client(address, wrong) as client:
        assert_error(await client.get("/v1/jobs"), 401, "authentication_error", "not valid")
    async with api.client(address, "berth_" + "x" * 43) as client:
        assert_error(await client.get("/v1/jobs"), 401, "authentication_error", "not valid")
    async with api.client(address) as client:
        malformed = await client.get("/v1/jobs", headers={"Authorization": f"Basic {secret}"})
        assert_error(malformed, 401, "authentication_error", "must be 'Bearer <key>'")


PLACEHOLDERS = ["none", "EMPTY", "ollama", "sk-no-key-required", "sk-anything", "lm-studio"]


@pytest.mark.parametrize("placeholder", PLACEHOLDERS)
async def test_a_placeholder_key_on_keyless_loopback_counts_as_no_key(
    api: Api, placeholder: str
) -> None:
    async with api.client(LOOPBACK, placeholder) as client:
        created = await client.post("/v1/jobs", json=ECHO)
        assert created.status_code == 201, created.text
    assert (await api.berth.stores.jobs.get(created.json()["id"])).owner is None
    async with api.client(REMOTE, placeholder) as client:
        assert_error(await client.get("/v1/jobs"), 401, "authentication_error", "not valid")


async def test_placeholders_are_refused_where_keys_are_required(open_api: OpenApi) -> None:
    async with open_api(require_keys=True) as api, api.client(LOOPBACK, "EMPTY") as client:
        assert_error(await client.get("/v1/jobs"), 401, "authentication_error", "not valid")


async def test_revoked_keys_are_refused(api: Api) -> None:
    secret = await api.secret()
    async with api.client(LOOPBACK, secret) as client:
        assert (await client.get("/v1/jobs")).status_code == 200
        await api.keys.revoke("ci")
        assert_error(await client.get("/v1/jobs"), 401, "authentication_error", "was revoked")


async def test_a_key_without_the_scope_is_forbidden(api: Api) -> None:
    secret = await api.secret(scopes="infer,admin")
    async with api.client(REMOTE, secret) as client:
        response = await client.post("/v1/jobs", json=ECHO)
    assert_error(response, 403, "permission_error", "lacks the 'jobs' scope")
    assert await api.berth.services.jobs.list_jobs(None) == []


async def test_the_rate_limit_answers_429_with_retry_after(api: Api) -> None:
    secret = await api.secret(rate_per_minute=3)
    other = await api.secret("other", rate_per_minute=3)
    async with api.client(REMOTE, secret) as client:
        for _ in range(3):
            assert (await client.post("/v1/jobs", json=ECHO)).status_code == 201
        refused = await client.get("/v1/jobs")
        assert_error(refused, 429, "rate_limit_exceeded", "rate of 3 requests per minute")
        assert 1 <= int(refused.headers["retry-after"]) <= 60
    async with api.client(REMOTE, other) as client:
        assert (await client.get("/v1/jobs")).status_code == 200
    assert len(await api.berth.services.jobs.list_jobs(None)) == 3


async def test_concurrent_jobs_per_key_are_limited(api: Api) -> None:
    secret = await api.secret(max_jobs=2)
    async with api.client(REMOTE, secret) as client:
        first = await client.post("/v1/jobs", json=ECHO)
        assert (await client.post("/v1/jobs", json=ECHO)).status_code == 201
        refused = await client.post("/v1/jobs", json=ECHO)
        assert_error(refused, 429, "rate_limit_exceeded", "has 2 jobs queued or running")
        assert refused.headers["retry-after"] == "5"
        await client.post(f"/v1/jobs/{first.json()['id']}/cancel")
        assert (await client.post("/v1/jobs", json=ECHO)).status_code == 201
    async with api.client() as anonymous:
        assert (await anonymous.post("/v1/jobs", json=ECHO)).status_code == 201


async def test_require_keys_covers_loopback_too(open_api: OpenApi) -> None:
    async with open_api(require_keys=True) as api:
        async with api.client() as client:
            assert_error(await client.get("/v1/jobs"), 401, "authentication_error", "API key")
            assert (await client.get("/healthz")).status_code == 200
        async with api.client(secret=await api.secret()) as client:
            assert (await client.get("/v1/jobs")).status_code == 200


async def test_metrics_are_open_unless_a_key_is_required_for_them(open_api: OpenApi) -> None:
    async with open_api() as api, api.client(REMOTE) as client:
        assert (await client.get("/metrics")).status_code == 200
    async with open_api(metrics_require_key=True) as api:
        scraper = await api.secret("prometheus", scopes="metrics")
        other = await api.secret("app", scopes="infer")
        admin = await api.secret("root", scopes="admin")
        async with api.client() as client:
            assert_error(await client.get("/metrics"), 401, "authentication_error", "metrics")
        async with api.client(LOOPBACK, other) as client:
            assert_error(await client.get("/metrics"), 403, "permission_error", "'metrics' scope")
        for secret in (scraper, admin):
            async with api.client(REMOTE, secret) as client:
                scraped = await client.get("/metrics")
                assert scraped.status_code == 200 and "berth_jobs" in scraped.text
