"""The one suite every fine-tuning store adapter passes: memory, SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from berth import errors
from berth.db.stores import stores_for
from berth.db.training import SqlFineTuningStore
from berth.ids import new_id
from berth.jobs.store import JobStore
from berth.training.memory import MemoryFineTuningStore
from berth.training.record import (
    CHECKPOINT_PREFIX,
    EVENT_PREFIX,
    FINE_TUNING_JOB_PREFIX,
    Change,
    EventLevel,
    EventType,
    FineTuningCheckpoint,
    FineTuningError,
    FineTuningEvent,
    FineTuningJob,
    FineTuningStatus,
    Hyperparameters,
    LoraOptions,
)
from berth.training.store import FineTuningStore

pytestmark = pytest.mark.contract
NOW = 1_800_000_000.0
Status = FineTuningStatus


def make_job(owner: str | None = "key_a") -> FineTuningJob:
    return FineTuningJob(
        id=new_id(FINE_TUNING_JOB_PREFIX),
        model="tiny-llama",
        training_file="file-train",
        created_at=NOW,
        validation_file="file-valid",
        hyperparameters=Hyperparameters(n_epochs=2, batch_size=4, learning_rate_multiplier=0.5),
        lora=LoraOptions(rank=4, alpha=8, target_modules=("q_proj", "v_proj"), max_steps=30),
        seed=42,
        suffix="mine",
        owner=owner,
        metadata={"team": "a"},
    )


@pytest.fixture
def tunes(store: JobStore, store_kind: str) -> FineTuningStore:
    found = stores_for(store).fine_tuning
    assert isinstance(
        found, MemoryFineTuningStore if store_kind == "memory" else SqlFineTuningStore
    )
    return found


async def test_a_job_round_trips_every_field(tunes: FineTuningStore) -> None:
    full, bare = make_job(), FineTuningJob(new_id(FINE_TUNING_JOB_PREFIX), "m", "file-x", NOW)
    for job in (full, bare):
        await tunes.add(job)
    assert await tunes.get(full.id) == full
    assert await tunes.get(bare.id) == bare
    with pytest.raises(errors.UnknownFineTuningJob, match="ftjob-nope"):
        await tunes.get("ftjob-nope")


async def test_jobs_are_listed_newest_first_by_owner_and_cursor(tunes: FineTuningStore) -> None:
    made = [make_job("key_a"), make_job("key_b"), make_job("key_a"), make_job(None)]
    for job in made:
        await tunes.add(job)
    ids = [job.id for job in made]
    assert [job.id for job in await tunes.list_jobs()] == ids[::-1]
    assert [job.id for job in await tunes.list_jobs(owner="key_a")] == [ids[2], ids[0]]
    assert [job.id for job in await tunes.list_jobs(after=ids[2])] == [ids[1], ids[0]]
    assert [job.id for job in await tunes.list_jobs(limit=2)] == [ids[3], ids[2]]


async def test_update_sets_fields_and_refuses_a_transition_from_the_wrong_status(
    tunes: FineTuningStore,
) -> None:
    job = make_job()
    await tunes.add(job)
    queued = await tunes.update(job.id, Change(status=Status.QUEUED, job_id="job_1"))
    assert (queued.status, queued.job_id, queued.suffix) == (Status.QUEUED, "job_1", "mine")
    done = await tunes.update(
        job.id,
        Change(
            status=Status.SUCCEEDED,
            fine_tuned_model="ft:tiny-llama:mine:x",
            trained_tokens=1234,
            finished_at=NOW + 60,
        ),
        only_from=frozenset({Status.RUNNING, Status.QUEUED}),
    )
    assert await tunes.get(job.id) == done
    assert (done.trained_tokens, done.fine_tuned_model) == (1234, "ft:tiny-llama:mine:x")
    with pytest.raises(errors.FineTuningStateError, match="succeeded"):
        await tunes.update(
            job.id, Change(status=Status.CANCELLED), only_from=frozenset({Status.RUNNING})
        )
    assert (await tunes.get(job.id)).status is Status.SUCCEEDED
    failed = await tunes.update(
        job.id, Change(error=FineTuningError("invalid_file", "line 3: no messages", "training"))
    )
    assert (
        (await tunes.get(job.id)).error
        == failed.error
        == FineTuningError("invalid_file", "line 3: no messages", "training")
    )
    with pytest.raises(errors.UnknownFineTuningJob):
        await tunes.update("ftjob-nope", Change(status=Status.QUEUED))


async def test_events_are_kept_per_job_newest_first_with_their_metrics(
    tunes: FineTuningStore,
) -> None:
    one, two = make_job(), make_job()
    for job in (one, two):
        await tunes.add(job)
    made = [
        FineTuningEvent(new_id(EVENT_PREFIX), one.id, NOW, "Job started."),
        FineTuningEvent(
            new_id(EVENT_PREFIX),
            one.id,
            NOW + 1,
            "Step 1/10: training loss=2.5",
            type=EventType.METRICS,
            data={"step": 1, "train_loss": 2.5, "learning_rate": 1e-4, "tokens_per_second": 9.5},
        ),
        FineTuningEvent(new_id(EVENT_PREFIX), two.id, NOW, "Other job.", EventLevel.WARN),
        FineTuningEvent(new_id(EVENT_PREFIX), one.id, NOW + 2, "Failed.", EventLevel.ERROR),
    ]
    for event in made:
        await tunes.add_event(event)
    assert await tunes.list_events(one.id) == [made[3], made[1], made[0]]
    assert await tunes.list_events(one.id, after=made[3].id, limit=1) == [made[1]]
    assert await tunes.list_events(two.id) == [made[2]]


async def test_checkpoints_are_kept_per_job_and_a_step_written_again_replaces_it(
    tunes: FineTuningStore,
) -> None:
    job = make_job()
    await tunes.add(job)

    def checkpoint(step: int, loss: float) -> FineTuningCheckpoint:
        return FineTuningCheckpoint(
            id=new_id(CHECKPOINT_PREFIX),
            job_id=job.id,
            created_at=NOW + step,
            step=step,
            metrics={"step": float(step), "train_loss": loss},
            path=f"/tmp/ckpt/step-{step}",
            sha256="cd" * 32,
            fine_tuned_model_checkpoint=f"ft:tiny-llama:mine:x:ckpt-step-{step}",
        )

    first, second = checkpoint(10, 2.0), checkpoint(20, 1.5)
    for made in (first, second):
        await tunes.add_checkpoint(made)
    assert await tunes.list_checkpoints(job.id) == [second, first]
    again = checkpoint(20, 1.4)
    await tunes.add_checkpoint(again)
    assert await tunes.list_checkpoints(job.id) == [again, first]
    assert await tunes.list_checkpoints(job.id, after=again.id) == [first]
    assert await tunes.list_checkpoints("ftjob-other") == []
