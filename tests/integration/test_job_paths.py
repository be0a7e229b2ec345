"""Over HTTP, a job input naming a file outside BERTH_HOME and BERTH_DATA_DIRS is a 400."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from berth.app import Berth
from berth.settings import Settings
from berth.site import create_app

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    "job",
    [
        {"kind": "embed", "input": {"jsonl": "/etc/passwd"}},
        {"kind": "generate", "input": {"jsonl": "../outside.jsonl"}},
        {"kind": "transcribe", "input": {"files": ["talk.wav", "/etc/hostname"]}},
        {"kind": "ocr", "input": {"files": ["../../etc/hosts"]}},
        {"kind": "vad", "input": {"files": ["/proc/self/environ"]}},
    ],
)
async def test_paths_outside_the_allowed_folders_are_refused_at_submit(
    tmp_path: Path, job: dict[str, object]
) -> None:
    home, data = tmp_path / "home", tmp_path / "data"
    data.mkdir()
    settings = Settings(home=home, data_dirs=[data])
    async with Berth(settings) as berth:
        transport = httpx.ASGITransport(app=create_app(berth))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            refused = await client.post("/v1/jobs", json=job)
            allowed = await client.post(
                "/v1/jobs", json={"kind": "embed", "input": {"jsonl": str(data / "t.jsonl")}}
            )
        assert refused.status_code == 400, refused.text
        message = refused.json()["error"]["message"]
        assert "is outside the allowed folders" in message
        assert str(home.resolve()) in message and str(data.resolve()) in message
        assert allowed.status_code == 201
        assert [j.input for j in await berth.services.jobs.list_jobs(None)] == [
            {"jsonl": str(data / "t.jsonl")}
        ]
