from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from berth import errors
from berth.app import Berth
from berth.jobs.job import EventType, JobEvent, JobStatus
from berth.services.jobs import JobService
from berth.settings import Settings

pytestmark = pytest.mark.unit


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[JobService]:
    settings = Settings(home=tmp_path, database_url="memory://", max_attempts=3)
    async with Berth(settings) as berth:
        yield berth.services.jobs


@pytest.mark.parametrize(
    ("kind", "options", "error", "message"),
    [
        ("nope", {}, errors.UnknownKind, "no job kind 'nope'"),
        ("sleep", {"data": {"seconds": "x"}}, errors.InvalidJobInput, "seconds"),
        ("echo", {"priority": 10**9}, errors.InvalidRequest, "priority"),
        ("echo", {"max_attempts": 0}, errors.InvalidRequest, "max attempts"),
        ("echo", {"timeout": -1.0}, errors.InvalidRequest, "timeout"),
        ("echo", {"idempotency_key": ""}, errors.InvalidRequest, "idempotency key"),
        ("echo", {"model": "no-such-model"}, errors.UnknownModel, "no-such-model"),
        ("embed", {"data": {"texts": ["a"]}, "model": "echo"}, None, ""),
        ("embed", {"data": {"texts": ["a"]}, "model": "espeak-ng"}, errors.InvalidRequest,
         "cannot make embeddings"),
    ],
)  # fmt: skip
async def test_bad_submissions_are_refused_and_store_nothing(
    service: JobService,
    kind: str,
    options: dict[str, object],
    error: type[Exception] | None,
    message: str,
) -> None:
    data = options.pop("data", {})
    if error is None:  # the echo model stands in for any task: accepted
        assert (await service.submit(None, kind, data, **options)).created  # type: ignore[arg-type]
        return
    with pytest.raises(error, match=message):
        await service.submit(None, kind, data, **options)  # type: ignore[arg-type]
    assert await service.list_jobs(None) == []


async def test_defaults_and_follow(service: JobService) -> None:
    submission = await service.submit(None, "echo", {"x": 1})
    assert submission.job.max_attempts == 3
    [job] = await service.store.claim("w", {"echo": 1}, 1, 30)
    await service.store.progress(job.lease, 0.5, "half")
    await service.store.succeed(job.lease, {"x": 1})
    seen: list[JobEvent] = []
    done = await service.follow(None, job.id, seen.append, poll_seconds=0.01)
    assert done.status is JobStatus.SUCCEEDED
    assert [e.type for e in seen] == [
        EventType.QUEUED,
        EventType.STARTED,
        EventType.PROGRESS,
        EventType.SUCCEEDED,
    ]


async def test_list_limits_are_checked(service: JobService) -> None:
    with pytest.raises(errors.InvalidRequest, match="limit"):
        await service.list_jobs(None, limit=0)
