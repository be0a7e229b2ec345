from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from berth import errors
from berth.jobs.job import EventType, JobEvent, JobStatus
from berth.jobs.memory import MemoryJobStore
from berth.plugins import discover
from berth.services.jobs import JobService

pytestmark = pytest.mark.unit


@pytest.fixture
async def service() -> AsyncIterator[JobService]:
    async with MemoryJobStore() as store:
        yield JobService(store, discover(), default_attempts=3)


@pytest.mark.parametrize(
    ("kind", "options", "error", "message"),
    [
        ("nope", {}, errors.UnknownKind, "no job kind 'nope'"),
        ("sleep", {"data": {"seconds": "x"}}, errors.InvalidJobInput, "seconds"),
        ("echo", {"priority": 10**9}, errors.InvalidRequest, "priority"),
        ("echo", {"max_attempts": 0}, errors.InvalidRequest, "max attempts"),
        ("echo", {"timeout": -1.0}, errors.InvalidRequest, "timeout"),
        ("echo", {"idempotency_key": ""}, errors.InvalidRequest, "idempotency key"),
    ],
)
async def test_bad_submissions_are_refused_and_store_nothing(
    service: JobService, kind: str, options: dict[str, object], error: type[Exception], message: str
) -> None:
    data = options.pop("data", {})
    with pytest.raises(error, match=message):
        await service.submit(kind, data, **options)  # type: ignore[arg-type]
    assert await service.list_jobs() == []


async def test_defaults_and_follow(service: JobService) -> None:
    submission = await service.submit("echo", {"x": 1})
    assert submission.job.max_attempts == 3
    [job] = await service.store.claim("w", {"echo": 1}, 1, 30)
    await service.store.progress(job.lease, 0.5, "half")
    await service.store.succeed(job.lease, {"x": 1})
    seen: list[JobEvent] = []
    done = await service.follow(job.id, seen.append, poll_seconds=0.01)
    assert done.status is JobStatus.SUCCEEDED
    assert [e.type for e in seen] == [
        EventType.QUEUED,
        EventType.STARTED,
        EventType.PROGRESS,
        EventType.SUCCEEDED,
    ]


async def test_list_limits_are_checked(service: JobService) -> None:
    with pytest.raises(errors.InvalidRequest, match="limit"):
        await service.list_jobs(limit=0)
