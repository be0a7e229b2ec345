"""The jobs API in-process (ASGI), over a real SQLite store and a running dispatcher."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from berth.app import Berth
from berth.jobs.context import JobContext
from berth.jobs.kind import JobKind
from berth.kinds.builtin import register
from berth.plugins import PluginRegistry
from berth.settings import Settings
from berth.site import create_app

pytestmark = pytest.mark.integration


async def report(ctx: JobContext, data: Any) -> Any:
    (ctx.output_dir / "report.txt").write_text("hello")
    await ctx.add_artifact("report.txt")
    return {"written": 1}


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    registry = PluginRegistry()
    register(registry)
    registry.add_kind(JobKind("report", report, "writes a file"))
    settings = Settings(
        home=tmp_path,
        poll_seconds=0.1,
        max_request_bytes=10_000,
        retry_base_seconds=0.1,
        drain_seconds=0.5,
        cancel_grace_seconds=0.5,
    )
    async with Berth(settings, registry=registry) as berth, berth.dispatcher():
        app = create_app(berth)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            yield c


def parse_sse(text: str) -> list[dict[str, Any]]:
    frames = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "data" in fields:
            frames.append(
                {"id": int(fields["id"]), "event": fields["event"], **json.loads(fields["data"])}
            )
    return frames


async def test_submit_follow_and_resume(client: httpx.AsyncClient) -> None:
    created = await client.post(
        "/v1/jobs", json={"kind": "sleep", "input": {"seconds": 0.3, "steps": 3}}
    )
    assert created.status_code == 201
    job_id = created.json()["id"]
    stream = await client.get(f"/v1/jobs/{job_id}/events")
    assert stream.headers["content-type"].startswith("text/event-stream")
    frames = parse_sse(stream.text)
    assert [f["event"] for f in frames] == [
        "queued",
        "started",
        "progress",
        "progress",
        "progress",
        "succeeded",
    ]
    assert [f["id"] for f in frames] == list(range(1, 7))
    resumed = await client.get(f"/v1/jobs/{job_id}/events", headers={"Last-Event-ID": "4"})
    assert [f["id"] for f in parse_sse(resumed.text)] == [5, 6]
    done = (await client.get(f"/v1/jobs/{job_id}")).json()
    assert (done["status"], done["result"], done["queue_position"]) == (
        "succeeded",
        {"slept": 0.3},
        None,
    )


async def test_idempotency_key_header_returns_the_same_job(client: httpx.AsyncClient) -> None:
    body = {"kind": "echo", "input": 1}
    first = await client.post("/v1/jobs", json=body, headers={"Idempotency-Key": "k"})
    second = await client.post("/v1/jobs", json=body, headers={"Idempotency-Key": "k"})
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]


async def test_queued_jobs_say_where_they_stand(client: httpx.AsyncClient) -> None:
    body = {"kind": "sleep", "input": {"seconds": 5, "steps": 50}}
    ids = [(await client.post("/v1/jobs", json=body)).json()["id"] for _ in range(6)]
    async with asyncio.timeout(10):
        while (await client.get("/v1/jobs", params={"status": "running"})).json()["data"] == []:
            await asyncio.sleep(0.05)
    shown = [(await client.get(f"/v1/jobs/{job_id}")).json() for job_id in ids[-2:]]
    assert [job["status"] for job in shown] == ["queued", "queued"]
    assert [job["queue_position"] for job in shown] == [0, 1]
    for job in shown:
        assert job["estimated_start_at"] >= job["created_at"]


async def test_list_filters_and_pages(client: httpx.AsyncClient) -> None:
    ids = [
        (await client.post("/v1/jobs", json={"kind": "echo", "input": i, "model": "echo"})).json()[
            "id"
        ]
        for i in range(5)
    ]
    page = (await client.get("/v1/jobs", params={"kind": "echo", "limit": 2})).json()
    assert [job["id"] for job in page["data"]] == ids[::-1][:2]
    assert page["has_more"] is True
    rest = (
        await client.get(
            "/v1/jobs", params={"kind": "echo", "limit": 10, "before": page["next_cursor"]}
        )
    ).json()
    assert [job["id"] for job in rest["data"]] == ids[::-1][2:]
    assert rest["has_more"] is False and rest["next_cursor"] is None
    assert (await client.get("/v1/jobs", params={"model": "none"})).json()["data"] == []


async def test_cancel(client: httpx.AsyncClient) -> None:
    job_id = (
        await client.post("/v1/jobs", json={"kind": "sleep", "input": {"seconds": 30}})
    ).json()["id"]
    cancelled = await client.post(f"/v1/jobs/{job_id}/cancel")
    assert cancelled.status_code == 200
    frames = parse_sse((await client.get(f"/v1/jobs/{job_id}/events")).text)
    assert frames[-1]["event"] == "cancelled"


async def test_artifacts_are_listed_and_served_but_nothing_else(client: httpx.AsyncClient) -> None:
    job_id = (await client.post("/v1/jobs", json={"kind": "report"})).json()["id"]
    await client.get(f"/v1/jobs/{job_id}/events")
    listed = (await client.get(f"/v1/jobs/{job_id}/artifacts")).json()["data"]
    assert [(a["name"], a["size"]) for a in listed] == [("report.txt", 5)]
    got = await client.get(listed[0]["url"])
    assert (got.status_code, got.text) == (200, "hello")
    for name in ("job.json", "..%2Fjob.json", "%2E%2E%2F%2E%2E%2Fberth.db"):
        refused = await client.get(f"/v1/jobs/{job_id}/artifacts/{name}")
        assert refused.status_code == 404, name
        assert refused.json()["error"]["type"] == "not_found_error"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b'{"kind": "echo", "priority": "high"}', "priority"),
        (b'{"kind": "nope"}', "no job kind 'nope'"),
        (b'{"kind": "sleep", "input": {"seconds": -1}}', "seconds"),
        (b'{"kind": "echo", "colour": 1}', "colour"),
        (b"{}", "kind"),
        (b"[]", "body"),
    ],
)
async def test_bad_submissions_get_400_and_change_nothing(
    client: httpx.AsyncClient, body: bytes, message: str
) -> None:
    answer = await client.post(
        "/v1/jobs", content=body, headers={"content-type": "application/json"}
    )
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["type"] == "invalid_request_error" and message in error["message"]
    assert "loc" not in answer.text
    assert (await client.get("/v1/jobs")).json()["data"] == []


async def test_errors_are_openai_shaped(client: httpx.AsyncClient) -> None:
    missing = await client.get("/v1/jobs/job_nope")
    assert missing.status_code == 404
    assert missing.json() == {
        "error": {
            "message": "No job has the id 'job_nope'.",
            "type": "not_found_error",
            "param": None,
            "code": None,
        }
    }
    too_big = await client.post("/v1/jobs", json={"kind": "echo", "input": "x" * 20_000})
    assert (
        too_big.status_code == 413
        and "larger than 10000 bytes" in too_big.json()["error"]["message"]
    )
    wrong = await client.delete("/v1/jobs")
    assert wrong.status_code == 405
    resume = await client.get("/v1/jobs/job_x/events", headers={"Last-Event-ID": "abc"})
    assert resume.status_code == 404


async def test_metrics(client: httpx.AsyncClient) -> None:
    job_id = (await client.post("/v1/jobs", json={"kind": "echo", "input": 1})).json()["id"]
    await client.get(f"/v1/jobs/{job_id}/events")
    await client.post("/v1/jobs", json={"kind": "echo", "priority": "x"})
    text = (await client.get("/metrics")).text
    assert 'berth_jobs{kind="echo",status="succeeded"} 1.0' in text
    assert 'berth_job_duration_seconds_count{kind="echo",outcome="succeeded"}' in text
    assert 'route="/v1/jobs/{job_id}/events"' in text
    assert 'berth_http_requests_total{method="POST",model="",route="/v1/jobs",status="400"}' in text


async def test_health(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert (body["status"], body["store"], body["dispatcher"]) == ("ready", "ok", "running")
    assert body["workers"]["active"] == 1
