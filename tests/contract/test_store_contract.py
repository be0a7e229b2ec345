"""The one suite every job-store adapter passes: memory, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest

from berth import errors
from berth.clock import ManualClock
from berth.jobs.job import (
    Artifact,
    ErrorInfo,
    EventType,
    JobQuery,
    JobStatus,
    Lease,
    NewJob,
)
from berth.jobs.store import JobStore
from berth.jobs.workers import WorkerInfo

pytestmark = pytest.mark.contract
LEASE = 30.0
ALL = {"echo": 10, "sleep": 10, "fail": 10}


async def claim_one(store: JobStore, worker: str = "w1") -> Lease:
    claimed = await store.claim(worker, ALL, 1, LEASE)
    assert len(claimed) == 1
    return claimed[0].lease


async def test_submit_persists_every_field(store: JobStore, clock: ManualClock) -> None:
    new = NewJob("echo", {"a": [1, 2]}, model="m", priority=5, max_attempts=4, timeout=9.5)
    submission = await store.submit(new)
    assert submission.created
    job = await store.get(submission.job.id)
    assert job == submission.job
    assert (job.kind, job.input, job.model, job.priority) == ("echo", {"a": [1, 2]}, "m", 5)
    assert (job.max_attempts, job.timeout, job.attempts) == (4, 9.5, 0)
    assert job.status is JobStatus.QUEUED
    assert job.created_at == job.run_after == clock.now()
    assert job.id.startswith("job_")
    events = await store.events(job.id)
    assert [(e.seq, e.type) for e in events] == [(1, EventType.QUEUED)]


async def test_idempotency_key_returns_the_existing_job(store: JobStore) -> None:
    first = await store.submit(NewJob("echo", 1, idempotency_key="k"))
    second = await store.submit(NewJob("echo", 2, idempotency_key="k"))
    other = await store.submit(NewJob("echo", 3, idempotency_key="other"))
    assert first.created and not second.created and other.created
    assert second.job.id == first.job.id
    assert second.job.input == 1
    assert len(await store.list_jobs(JobQuery())) == 2


async def test_unknown_ids_raise(store: JobStore) -> None:
    for call in (store.get("job_nope"), store.events("job_nope"), store.cancel("job_nope")):
        with pytest.raises(errors.UnknownJob, match="job_nope"):
            await call


async def test_list_filters_newest_first_with_cursor(store: JobStore) -> None:
    ids = [(await store.submit(NewJob("echo", i, model=f"m{i % 2}"))).job.id for i in range(5)]
    await store.submit(NewJob("sleep", {}))
    listed = await store.list_jobs(JobQuery(kind="echo"))
    assert [job.id for job in listed] == ids[::-1]
    page1 = await store.list_jobs(JobQuery(kind="echo", limit=2))
    page2 = await store.list_jobs(JobQuery(kind="echo", limit=2, before=page1[-1].id))
    assert [j.id for j in page1 + page2] == ids[::-1][:4]
    assert {j.id for j in await store.list_jobs(JobQuery(model="m1"))} == {ids[1], ids[3]}
    await store.cancel(ids[0])
    cancelled = await store.list_jobs(JobQuery(statuses=frozenset({JobStatus.CANCELLED})))
    assert [j.id for j in cancelled] == [ids[0]]


async def test_claim_orders_by_priority_then_age(store: JobStore, clock: ManualClock) -> None:
    low = (await store.submit(NewJob("echo", "low", priority=0))).job.id
    clock.advance(1)
    high = (await store.submit(NewJob("echo", "high", priority=9))).job.id
    clock.advance(1)
    high_later = (await store.submit(NewJob("echo", "high2", priority=9))).job.id
    claimed = await store.claim("w1", ALL, 10, LEASE)
    assert [job.id for job in claimed] == [high, high_later, low]
    job = claimed[0]
    assert job.status is JobStatus.RUNNING
    assert (job.worker_id, job.attempts, job.started_at) == ("w1", 1, clock.now())
    assert job.lease_expires_at == clock.now() + LEASE
    events = await store.events(job.id)
    assert [e.type for e in events] == [EventType.QUEUED, EventType.STARTED]
    assert events[1].data == {"attempt": 1, "worker": "w1"}


async def test_claim_respects_limit_kinds_and_free_slots(store: JobStore) -> None:
    for _ in range(3):
        await store.submit(NewJob("sleep", {}))
    await store.submit(NewJob("echo", {}))
    await store.submit(NewJob("other", {}))
    first = await store.claim("w1", {"sleep": 1, "echo": 5}, 10, LEASE)
    assert sorted(job.kind for job in first) == ["echo", "sleep"]
    assert await store.claim("w1", {"sleep": 0, "echo": 5}, 10, LEASE) == []
    second = await store.claim("w1", {"sleep": 5}, 1, LEASE)
    assert [job.kind for job in second] == ["sleep"]


async def test_a_job_is_claimed_once(store: JobStore) -> None:
    for i in range(20):
        await store.submit(NewJob("echo", i))
    results = await asyncio.gather(*(store.claim(f"w{i}", ALL, 3, LEASE) for i in range(10)))
    claimed = [job.id for batch in results for job in batch]
    assert len(claimed) == len(set(claimed)) == 20


async def test_future_jobs_wait_for_their_time(store: JobStore, clock: ManualClock) -> None:
    await store.submit(NewJob("echo", {}, run_after=clock.now() + 60))
    assert await store.claim("w1", ALL, 5, LEASE) == []
    clock.advance(61)
    assert len(await store.claim("w1", ALL, 5, LEASE)) == 1


async def test_progress_artifacts_and_success(store: JobStore) -> None:
    job_id = (await store.submit(NewJob("echo", {}))).job.id
    lease = await claim_one(store)
    await store.progress(lease, 0.5, "half")
    await store.add_artifact(lease, Artifact("a.txt", "text/plain", 3))
    await store.add_artifact(lease, Artifact("a.txt", "text/plain", 4))
    await store.add_artifact(lease, Artifact("b.png", "image/png", 9))
    running = await store.get(job_id)
    assert (running.progress, running.progress_message) == (0.5, "half")
    done = await store.succeed(lease, {"ok": True})
    assert done.status is JobStatus.SUCCEEDED
    assert done.result == {"ok": True}
    assert done.artifacts == (Artifact("a.txt", "text/plain", 4), Artifact("b.png", "image/png", 9))
    assert done.worker_id is None and done.finished_at is not None
    events = await store.events(job_id)
    assert [e.seq for e in events] == list(range(1, 8))
    assert [e.type for e in events] == [
        EventType.QUEUED,
        EventType.STARTED,
        EventType.PROGRESS,
        EventType.ARTIFACT,
        EventType.ARTIFACT,
        EventType.ARTIFACT,
        EventType.SUCCEEDED,
    ]
    assert events[2].data == {"fraction": 0.5, "message": "half"}
    assert [e.seq for e in await store.events(job_id, after=5)] == [6, 7]
    assert done.last_event == 7


async def test_writes_need_the_lease(store: JobStore) -> None:
    job_id = (await store.submit(NewJob("echo", {}))).job.id
    with pytest.raises(errors.LeaseLost):
        await store.succeed(Lease(job_id, "w1", 1), None)
    lease = await claim_one(store)
    with pytest.raises(errors.LeaseLost, match="w2"):
        await store.progress(Lease(job_id, "w2", 1), 0.1, None)
    with pytest.raises(errors.LeaseLost):
        await store.fail(Lease(job_id, "w2", 1), ErrorInfo("E", "m"), None)
    await store.succeed(lease, 1)
    with pytest.raises(errors.LeaseLost):
        await store.succeed(lease, 2)
    assert (await store.get(job_id)).result == 1


async def test_an_old_attempt_cannot_write_into_a_new_one(
    store: JobStore, clock: ManualClock
) -> None:
    job_id = (await store.submit(NewJob("echo", {}, max_attempts=3))).job.id
    first = await claim_one(store)
    clock.advance(LEASE + 1)
    await store.reap()
    second = await claim_one(store)
    assert (first.worker_id, first.attempt, second.attempt) == ("w1", 1, 2)
    with pytest.raises(errors.LeaseLost, match="attempt 1"):
        await store.succeed(first, "stale")
    beat = await store.heartbeat("w1", frozenset({first}), LEASE)
    assert beat.lost == {job_id}
    await store.succeed(second, "fresh")
    assert (await store.get(job_id)).result == "fresh"


async def test_failure_retries_at_the_given_time(store: JobStore, clock: ManualClock) -> None:
    job_id = (await store.submit(NewJob("fail", {}, max_attempts=2))).job.id
    lease = await claim_one(store)
    error = ErrorInfo("ValueError", "boom", "Traceback ...")
    retried = await store.fail(lease, error, retry_at=clock.now() + 10)
    assert retried.status is JobStatus.QUEUED
    assert retried.error == error and retried.run_after == clock.now() + 10
    assert await store.claim("w1", ALL, 5, LEASE) == []
    clock.advance(10)
    second = await store.claim("w1", ALL, 5, LEASE)
    assert second[0].attempts == 2
    failed = await store.fail(second[0].lease, error, retry_at=None)
    assert failed.status is JobStatus.FAILED and failed.error == error
    types = [e.type for e in await store.events(job_id)]
    assert types[-3:] == [EventType.RETRYING, EventType.STARTED, EventType.FAILED]


async def test_cancel_queued_running_and_finished(store: JobStore) -> None:
    queued = (await store.submit(NewJob("echo", {}))).job.id
    cancelled = await store.cancel(queued)
    assert cancelled.status is JobStatus.CANCELLED and cancelled.finished_at is not None
    running = (await store.submit(NewJob("echo", {}))).job.id
    lease = await claim_one(store)
    asked = await store.cancel(running)
    assert asked.status is JobStatus.RUNNING and asked.cancel_requested
    again = await store.cancel(running)
    assert again.last_event == asked.last_event
    beat = await store.heartbeat("w1", frozenset({lease}), LEASE)
    assert beat.cancel_requested == {running} and not beat.lost
    done = await store.mark_cancelled(lease, "asked to stop")
    assert done.status is JobStatus.CANCELLED
    assert (await store.cancel(running)).status is JobStatus.CANCELLED
    types = [e.type for e in await store.events(running)]
    assert types == [
        EventType.QUEUED,
        EventType.STARTED,
        EventType.CANCEL_REQUESTED,
        EventType.CANCELLED,
    ]


async def test_release_returns_the_attempt(store: JobStore) -> None:
    job_id = (await store.submit(NewJob("echo", {}))).job.id
    lease = await claim_one(store)
    released = await store.release(lease, "shutdown")
    assert released.status is JobStatus.QUEUED and released.attempts == 0
    again = await store.claim("w2", ALL, 1, LEASE)
    assert (again[0].id, again[0].attempts, again[0].worker_id) == (job_id, 1, "w2")


async def test_heartbeat_renews_and_reports_lost(store: JobStore, clock: ManualClock) -> None:
    kept = (await store.submit(NewJob("echo", {}))).job.id
    lease = await claim_one(store)
    clock.advance(LEASE - 1)
    beat = await store.heartbeat("w1", frozenset({lease, Lease("job_gone", "w1", 1)}), LEASE)
    assert beat.lost == {"job_gone"}
    clock.advance(LEASE - 1)
    assert await store.reap() == []
    assert (await store.get(kept)).lease_expires_at == clock.now() + 1


async def test_reaper_requeues_or_fails_expired_leases(store: JobStore, clock: ManualClock) -> None:
    retry = (await store.submit(NewJob("echo", {}, max_attempts=2))).job.id
    last = (await store.submit(NewJob("echo", {}, max_attempts=1))).job.id
    leases = frozenset(job.lease for job in await store.claim("w1", ALL, 2, LEASE))
    clock.advance(LEASE + 1)
    reaped = {job.id: job for job in await store.reap()}
    assert reaped[retry].status is JobStatus.QUEUED and reaped[retry].worker_id is None
    assert reaped[last].status is JobStatus.FAILED
    assert reaped[last].error is not None and reaped[last].error.type == "WorkerLost"
    assert await store.reap() == []
    beat = await store.heartbeat("w1", leases, LEASE)
    assert beat.lost == {retry, last}
    events = await store.events(retry)
    assert events[-1].type is EventType.REQUEUED
    assert events[-1].data["reason"] == "lease_expired"
    again = await store.claim("w2", ALL, 5, LEASE)
    assert [(j.id, j.attempts) for j in again] == [(retry, 2)]


async def test_counts_by_status_and_kind(store: JobStore) -> None:
    for kind in ("echo", "echo", "sleep"):
        await store.submit(NewJob(kind, {}))
    await store.claim("w1", {"sleep": 1}, 1, LEASE)
    assert await store.counts() == {
        (JobStatus.QUEUED, "echo"): 2,
        (JobStatus.RUNNING, "sleep"): 1,
    }


async def test_queue_position_and_recent_durations(store: JobStore, clock: ManualClock) -> None:
    first = (await store.submit(NewJob("echo", 1))).job.id
    urgent = (await store.submit(NewJob("echo", 2, priority=5))).job.id
    later = (await store.submit(NewJob("echo", 3, run_after=clock.now() + 60))).job.id
    last = (await store.submit(NewJob("echo", 4))).job.id
    positions = [await store.queue_position(job_id) for job_id in (urgent, first, last)]
    assert positions == [0, 1, 2]
    assert await store.queue_position(later) == 2
    [claimed] = await store.claim("w1", ALL, 1, LEASE)
    assert await store.queue_position(claimed.id) is None
    clock.advance(2.5)
    await store.succeed(claimed.lease, None)
    assert await store.recent_durations("echo") == [2.5]
    assert await store.recent_durations("sleep") == []


async def test_unfinished_jobs_are_counted_per_owner(store: JobStore) -> None:
    mine = [(await store.submit(NewJob("echo", i, owner="key_a"))).job for i in range(3)]
    await store.submit(NewJob("echo", 9, owner="key_b"))
    await store.submit(NewJob("echo", 9))
    assert mine[0].owner == "key_a"
    assert await store.count_unfinished("key_a") == 3
    await store.cancel(mine[0].id)
    [running] = await store.claim("w1", ALL, 1, LEASE)
    assert await store.count_unfinished("key_a") == 2
    await store.succeed(running.lease, None)
    assert await store.count_unfinished("key_a") == 1


async def test_workers_register_beat_and_leave(store: JobStore, clock: ManualClock) -> None:
    info = WorkerInfo("w1", "host", 42, clock.now(), clock.now(), concurrency=4)
    await store.register_worker(info)
    await store.register_worker(WorkerInfo("w2", "host", 43, clock.now(), clock.now(), 1))
    await store.submit(NewJob("echo", {}))
    lease = await claim_one(store)
    clock.advance(5)
    await store.heartbeat("w1", frozenset({lease}), LEASE)
    seen = {worker.id: worker for worker in await store.workers()}
    assert (seen["w1"].pid, seen["w1"].running, seen["w1"].heartbeat_at) == (42, 1, clock.now())
    assert await store.forget_workers(silent_for=4) == ["w2"]
    await store.report_models("w1", [{"alias": "m", "memory": 123}])
    [only] = await store.workers()
    assert only.models == ({"alias": "m", "memory": 123},)
    await store.deregister_worker("w1")
    assert await store.workers() == []


async def test_submit_wakes_a_waiting_worker(store: JobStore) -> None:
    await store.wait_for_work(0.5)  # starts listening; may wake once, spuriously
    assert await store.wait_for_work(0.05) is False
    waiter = asyncio.create_task(store.wait_for_work(10))
    await asyncio.sleep(0.2)
    await store.submit(NewJob("echo", {}))
    assert await asyncio.wait_for(waiter, 5) is True


async def test_a_closed_store_refuses_work(store: JobStore) -> None:
    await store.__aexit__(None, None, None)
    with pytest.raises(errors.StoreClosed):
        await store.submit(NewJob("echo", {}))


async def test_an_owners_limit_is_checked_with_the_insert(store: JobStore) -> None:
    first = await store.submit(NewJob("echo", 1, owner="key_a"), max_unfinished=2)
    await store.submit(NewJob("echo", 2, owner="key_a", idempotency_key="k"), max_unfinished=2)
    with pytest.raises(errors.TooManyJobs, match="2 jobs queued or running, its limit is 2"):
        await store.submit(NewJob("echo", 3, owner="key_a"), max_unfinished=2)
    retried = NewJob("echo", 9, owner="key_a", idempotency_key="k")
    again = await store.submit(retried, max_unfinished=2)
    assert not again.created  # a retried submit finds its job even at the limit
    assert (await store.submit(NewJob("echo", 4, owner="key_b"), max_unfinished=2)).created
    await store.cancel(first.job.id)
    assert (await store.submit(NewJob("echo", 5, owner="key_a"), max_unfinished=2)).created
    racing = [store.submit(NewJob("echo", n, owner="key_c"), max_unfinished=3) for n in range(6)]
    outcomes = await asyncio.gather(*racing, return_exceptions=True)
    assert sum(1 for o in outcomes if not isinstance(o, BaseException)) == 3
    assert all(isinstance(o, errors.TooManyJobs) for o in outcomes if isinstance(o, BaseException))


async def test_jobs_are_listed_by_owner(store: JobStore) -> None:
    mine = (await store.submit(NewJob("echo", 1, owner="key_a"))).job
    await store.submit(NewJob("echo", 2, owner="key_b"))
    await store.submit(NewJob("echo", 3))
    assert [job.id for job in await store.list_jobs(JobQuery(owner="key_a"))] == [mine.id]
    assert len(await store.list_jobs(JobQuery())) == 3


async def test_the_end_of_every_attempt_names_the_attempt(store: JobStore) -> None:
    job = (await store.submit(NewJob("echo", max_attempts=2))).job
    lease = await claim_one(store)
    await store.fail(lease, ErrorInfo("Boom", "boom"), retry_at=0.0)
    lease = await claim_one(store)
    await store.succeed(lease, {"ok": True})
    events = await store.events(job.id)
    named = [(e.type, e.data.get("attempt")) for e in events if e.type is not EventType.QUEUED]
    assert named == [
        (EventType.STARTED, 1),
        (EventType.RETRYING, 1),
        (EventType.STARTED, 2),
        (EventType.SUCCEEDED, 2),
    ]
