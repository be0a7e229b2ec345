"""Every rule about jobs lives in the job service, so every entry point refuses alike: the API,
the web UI's forms, the CLI's path (the service without a key), images as jobs and pulls.

Each test drives one rule through each entry point, over one Berth on SQLite, with callers
from off this machine (so keys are needed) and the web UI logged in with the same keys.
"""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from berth import errors
from berth.app import Berth
from berth.services import Services
from berth.settings import Settings
from berth.site import create_app

pytestmark = pytest.mark.integration
REMOTE = ("203.0.113.5", 1234)
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class Entry:
    """One Berth's entry points, for one caller's key."""

    def __init__(self, berth: Berth, secret: str) -> None:
        transport = httpx.ASGITransport(app=create_app(berth), client=REMOTE)
        self.api = httpx.AsyncClient(
            transport=transport,
            base_url="http://test",
            headers={"Authorization": f"Bearer {secret}"},
        )
        self.web = httpx.AsyncClient(transport=transport, base_url="http://test")
        self.secret = secret

    async def login(self) -> None:
        form = await self.web.get("/login")
        token = CSRF.search(form.text)
        assert token is not None
        done = await self.web.post(
            "/login", data={"csrf_token": token.group(1), "key": self.secret, "next": "/"}
        )
        assert done.status_code == 303, done.text

    async def submit_form(self, kind: str, fields: dict[str, str]) -> httpx.Response:
        """Fill the UI's submit form for ``kind`` and send it."""
        form = await self.web.get(f"/submit/{kind}")
        token = CSRF.search(form.text)
        assert token is not None, form.text
        return await self.web.post(f"/submit/{kind}", data={"csrf_token": token.group(1), **fields})

    async def close(self) -> None:
        await self.api.aclose()
        await self.web.aclose()


@pytest.fixture
async def berth(tmp_path: Path) -> AsyncIterator[Berth]:
    async with Berth(Settings(home=tmp_path)) as opened:
        yield opened


async def entry(berth: Berth, name: str, scopes: str, **options: Any) -> Entry:
    created = await berth.services.keys.create(name, [scopes], **options)
    opened = Entry(berth, created.secret)
    await opened.login()
    return opened


def refused_with(response: httpx.Response, status: int, text: str) -> None:
    assert response.status_code == status, response.text
    assert text in html.unescape(response.text), response.text


async def count(services: Services) -> int:
    return len(await services.jobs.list_jobs(None))


async def test_a_model_not_in_the_catalog_is_refused_everywhere(berth: Berth) -> None:
    who = await entry(berth, "ci", "jobs,infer,admin")
    message = "no-such-model"
    api = await who.api.post("/v1/jobs", json={"kind": "echo", "input": {}, "model": message})
    refused_with(api, 404, message)
    page = await who.submit_form("echo", {"model": message, "priority": "0"})
    refused_with(page, 404, message)
    image = await who.api.post(
        "/v1/images/generations",
        json={"model": message, "prompt": "a cat", "response_format": "url"},
    )
    refused_with(image, 404, message)
    refused_with(await who.api.post(f"/v1/models/{message}/pull"), 404, message)
    with pytest.raises(errors.UnknownModel, match=message):  # the CLI's path: no key
        await berth.services.jobs.submit(None, "echo", {}, model=message)
    assert await count(berth.services) == 0
    await who.close()


async def test_a_keys_model_allowlist_is_checked_everywhere(berth: Berth) -> None:
    who = await entry(berth, "ci", "jobs,infer,admin", models=["echo"])
    denied = "may not use the model 'all-minilm-l6-v2'"
    job = {"kind": "embed", "input": {"texts": ["a"]}, "model": "all-minilm-l6-v2"}
    refused_with(await who.api.post("/v1/jobs", json=job), 403, denied)
    page = await who.submit_form(
        "embed", {"texts": '["a"]', "model": "all-minilm-l6-v2", "priority": "0"}
    )
    refused_with(page, 403, denied)
    refused_with(await who.api.post("/v1/models/all-minilm-l6-v2/pull"), 403, denied)
    online = await who.api.post("/v1/embeddings", json={"model": "all-minilm-l6-v2", "input": "a"})
    refused_with(online, 403, denied)
    assert await count(berth.services) == 0
    allowed = await who.api.post("/v1/jobs", json={"kind": "echo", "input": {}, "model": "echo"})
    assert allowed.status_code == 201
    await who.close()


async def test_a_model_that_cannot_do_the_kinds_task_is_refused_everywhere(berth: Berth) -> None:
    who = await entry(berth, "ci", "jobs")
    wrong = "cannot make embeddings"
    job = {"kind": "embed", "input": {"texts": ["a"]}, "model": "espeak-ng"}
    refused_with(await who.api.post("/v1/jobs", json=job), 400, wrong)
    page = await who.submit_form("embed", {"texts": '["a"]', "model": "espeak-ng"})
    refused_with(page, 400, wrong)
    with pytest.raises(errors.InvalidRequest, match=wrong):
        await berth.services.jobs.submit(None, "embed", {"texts": ["a"]}, model="espeak-ng")
    assert await count(berth.services) == 0
    await who.close()


async def test_a_keys_job_limit_is_checked_everywhere(berth: Berth) -> None:
    who = await entry(berth, "ci", "jobs,infer", max_jobs=1)
    first = await who.api.post("/v1/jobs", json={"kind": "sleep", "input": {"seconds": 60}})
    assert first.status_code == 201
    over = "has 1 jobs queued or running, its limit is 1"
    refused_with(await who.api.post("/v1/jobs", json={"kind": "echo", "input": {}}), 429, over)
    refused_with(await who.submit_form("echo", {"priority": "0"}), 429, over)
    image = await who.api.post(
        "/v1/images/generations", json={"model": "echo", "prompt": "x", "response_format": "url"}
    )
    refused_with(image, 429, over)
    retry = await who.web.post(f"/jobs/{first.json()['id']}/retry", data={
        "csrf_token": CSRF.search((await who.web.get(f"/jobs/{first.json()['id']}")).text)
        .group(1)  # type: ignore[union-attr]
    })  # fmt: skip
    refused_with(retry, 429, over)
    assert await count(berth.services) == 1
    await who.close()


async def test_a_key_sees_and_cancels_only_its_own_jobs_unless_it_is_an_admin(
    berth: Berth,
) -> None:
    alice = await entry(berth, "alice", "jobs")
    bob = await entry(berth, "bob", "jobs")
    admin = await entry(berth, "root", "jobs,admin")
    mine = await alice.api.post("/v1/jobs", json={"kind": "sleep", "input": {"seconds": 60}})
    job_id = mine.json()["id"]
    unknown = f"No job has the id '{job_id}'"
    for path in (f"/v1/jobs/{job_id}", f"/v1/jobs/{job_id}/events", f"/v1/jobs/{job_id}/artifacts"):
        refused_with(await bob.api.get(path), 404, unknown)
    refused_with(await bob.api.post(f"/v1/jobs/{job_id}/cancel"), 404, unknown)
    refused_with(await bob.web.get(f"/jobs/{job_id}"), 404, unknown)
    assert (await bob.api.get("/v1/jobs")).json()["data"] == []
    assert [j["id"] for j in (await alice.api.get("/v1/jobs")).json()["data"]] == [job_id]
    assert [j["id"] for j in (await admin.api.get("/v1/jobs")).json()["data"]] == [job_id]
    assert (await admin.api.post(f"/v1/jobs/{job_id}/cancel")).json()["status"] == "cancelled"
    for who in (alice, bob, admin):
        await who.close()
