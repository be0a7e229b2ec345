"""Model administration over the API, in-process: load, unload, pin, pull as a job, and the
503 a request gets while its model is still loading."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from berth.app import Berth
from berth.settings import Settings
from berth.site import create_app
from tests.hubstandin import HubStandIn, tiny_repo_files

pytestmark = pytest.mark.integration

USER_CATALOG = """
[models.tiny]
task = "embed"
runner = "sentence-transformers"
source = "hf:acme/tiny@main"
files = ["*.json", "*.safetensors"]

[models.slow-echo]
task = "chat"
runner = "echo"
source = "none:"
[models.slow-echo.options]
transport = "thread"
runner_options = {delay_ms = 0}

[models.busy-echo]
task = "chat"
runner = "echo"
source = "none:"
[models.busy-echo.options]
transport = "thread"
max_batch_size = 1
max_queue = 1
runner_options = {delay_ms = 300}
"""


@pytest.fixture
def hub() -> Iterator[HubStandIn]:
    with HubStandIn() as stand_in:
        stand_in.add_repo("acme/tiny", tiny_repo_files())
        yield stand_in


@pytest.fixture
async def client(tmp_path: Path, hub: HubStandIn) -> AsyncIterator[httpx.AsyncClient]:
    (tmp_path / "catalog.toml").write_text(USER_CATALOG)
    settings = Settings(home=tmp_path, hub_endpoint=hub.url, poll_seconds=0.1, load_wait_seconds=0)
    async with Berth(settings) as berth, berth.dispatcher():
        app = create_app(berth)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            yield c


async def test_load_pin_unload(client: httpx.AsyncClient) -> None:
    loaded = (await client.post("/v1/models/echo/load")).json()
    assert loaded["loaded"] is True and loaded["details"]["pid"] > 0
    pinned = (await client.post("/v1/models/echo/pin", json={"pinned": True})).json()
    assert pinned["pinned"] is True
    unloaded = (await client.post("/v1/models/echo/unload")).json()
    assert unloaded["loaded"] is False
    missing = await client.post("/v1/models/nope/load")
    assert missing.status_code == 404 and "nope" in missing.json()["error"]["message"]
    bad = await client.post("/v1/models/echo/pin", json={"pinned": "maybe"})
    assert bad.status_code == 400


async def test_a_cold_model_answers_503_while_it_loads(client: httpx.AsyncClient) -> None:
    body = {"model": "slow-echo", "messages": [{"role": "user", "content": "hi"}]}
    first = await client.post("/v1/chat/completions", json=body)
    assert first.status_code == 503
    assert first.headers["retry-after"] == "5"
    assert first.json()["error"]["type"] == "model_loading"
    await client.post("/v1/models/slow-echo/load")
    second = await client.post("/v1/chat/completions", json=body)
    assert second.status_code == 200
    assert second.json()["choices"][0]["message"]["content"] == "hi"


async def test_a_full_queue_answers_503_and_the_queued_requests_are_answered(
    client: httpx.AsyncClient,
) -> None:
    await client.post("/v1/models/busy-echo/load")

    def chat(text: str) -> Any:
        body = {"model": "busy-echo", "messages": [{"role": "user", "content": text}]}
        return client.post("/v1/chat/completions", json=body)

    # One runs, one waits in the model's own queue, one waits for the model (max_queue 1).
    held = []
    for n in range(3):
        held.append(asyncio.create_task(chat(f"held {n}")))
        await asyncio.sleep(0.05)
    refused = await chat("one too many")
    assert refused.status_code == 503 and refused.headers["retry-after"] == "5"
    error = refused.json()["error"]
    assert error["type"] == "server_overloaded" and "max_queue" in error["message"]
    answers = await asyncio.gather(*held)
    assert [a.json()["choices"][0]["message"]["content"] for a in answers] == [
        f"held {n}" for n in range(3)
    ]


async def test_pull_runs_as_a_job(client: httpx.AsyncClient, hub: HubStandIn) -> None:
    started = await client.post("/v1/models/tiny/pull")
    assert started.status_code == 202
    job_id = started.json()["id"]
    stream = await client.get(f"/v1/jobs/{job_id}/events")
    frames = [
        json.loads(line[6:]) for line in stream.text.splitlines() if line.startswith("data: ")
    ]
    assert frames[-1]["type"] == "succeeded", frames[-1]
    assert any(frame["type"] == "progress" for frame in frames)
    job = (await client.get(f"/v1/jobs/{job_id}")).json()
    assert job["result"]["model"] == "tiny" and job["result"]["files"] == 4
    assert hub.gets("model.safetensors"), "the weights came from the hub stand-in"
