"""Time from kill -9 to training again: a real ``berth worker`` runs a fine-tune, is
SIGKILLed between checkpoints, and a second worker, already started and idle, takes the job
over once its lease expires and resumes from the last checkpoint.

Measured: kill to the lease's expiry (set by ``BERTH_LEASE_SECONDS``), kill to the
"Resumed from the checkpoint" event (claim, model load, checkpoint restore), and kill to the
first new step's metrics; plus how many steps were lost (trained again after the resume).
"""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from tests.integration.worker_process import WorkerProcess, worker_env

from berth.app import Berth
from berth.settings import Settings
from berth.training.record import EventType, Hyperparameters, LoraOptions
from berth.training.store import FineTuningStore

LEASE = {
    "BERTH_LEASE_SECONDS": "2",
    "BERTH_HEARTBEAT_SECONDS": "0.3",
    "BERTH_REAP_SECONDS": "0.3",
    "BERTH_POLL_SECONDS": "0.1",
    "BERTH_DRAIN_SECONDS": "5",
}
EVERY = 10
LIMIT_SECONDS = 300.0


@dataclass(frozen=True)
class Recovery:
    """What a kill -9 cost one run."""

    lease_seconds: float
    to_resumed: float
    to_training: float
    resumed_at: int
    killed_at: int

    @property
    def steps_lost(self) -> int:
        return self.killed_at - self.resumed_at


Steps = Callable[[], Awaitable[list[tuple[float, int]]]]


async def _until(check: Callable[[], Awaitable[object]], what: str) -> None:
    deadline = time.monotonic() + LIMIT_SECONDS
    while not await check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def kill_and_resume(
    model: str, home: Path, lines: list[str], hyper: Hyperparameters, lora: LoraOptions, seed: int
) -> Recovery:
    """One fine-tune killed past its second checkpoint and resumed by a second worker."""
    settings = Settings(home=home)
    env = worker_env(home, settings.resolved_database_url, LEASE)
    workers: list[WorkerProcess] = []
    try:
        async with Berth(settings) as berth:
            data = io.BytesIO(("\n".join(lines) + "\n").encode())
            stored = await berth.services.files.upload(None, "train.jsonl", "fine-tune", data)
            tune = await berth.services.fine_tuning.create(
                None, model=model, training_file=stored.id, hyperparameters=hyper, lora=lora,
                seed=seed,
            )  # fmt: skip
            store = berth.stores.fine_tuning

            async def steps() -> list[tuple[float, int]]:
                events = await store.list_events(tune.id, limit=100_000)
                return [
                    (e.created_at, int(e.data["step"]))
                    for e in events
                    if e.type is EventType.METRICS and e.data
                ]

            async def past_two() -> bool:
                return any(step >= 2 * EVERY + EVERY // 2 for _, step in await steps())

            workers.append(WorkerProcess(env, home / "worker-0.log"))
            await _until(past_two, "the run to pass its second checkpoint")
            workers.append(WorkerProcess(env, home / "worker-1.log"))
            await workers[1].registered(berth.stores.jobs)
            workers[0].kill()
            killed = time.time()
            killed_at = max(step for _, step in await steps())
            return await _measure(store, tune.id, killed, killed_at, steps)
    finally:
        for worker in workers:
            worker.close()


async def _measure(
    store: FineTuningStore, tune_id: str, killed: float, killed_at: int, steps: Steps
) -> Recovery:
    async def resumed() -> float | None:
        events = await store.list_events(tune_id, limit=100)
        found = [e for e in events if e.message.startswith("Resumed from the checkpoint")]
        return found[0].created_at if found else None

    await _until(resumed, "the second worker to resume")
    resumed_time = await resumed()
    assert resumed_time is not None

    async def new_step() -> bool:
        return any(at > resumed_time for at, _ in await steps())

    await _until(new_step, "a step after the resume")
    after = [(at, step) for at, step in await steps() if at > resumed_time]
    first_at, first_step = min(after)
    return Recovery(
        lease_seconds=float(LEASE["BERTH_LEASE_SECONDS"]),
        to_resumed=resumed_time - killed,
        to_training=first_at - killed,
        resumed_at=first_step - 1,
        killed_at=killed_at,
    )


def table(recovery: Recovery) -> list[str]:
    """The recovery figures as table rows."""
    return [
        f"{'kill -9 to ...':<28}{'seconds':>10}",
        f"{'lease expiry (setting)':<28}{recovery.lease_seconds:>10.2f}",
        f"{'resumed from checkpoint':<28}{recovery.to_resumed:>10.2f}",
        f"{'first new step':<28}{recovery.to_training:>10.2f}",
        f"steps trained again: {recovery.steps_lost} (killed after step {recovery.killed_at}, "
        f"resumed from step {recovery.resumed_at})",
    ]


def figures(recovery: Recovery) -> dict[str, float | int]:
    """The recovery figures for the final JSON line."""
    return {
        "lease_seconds": recovery.lease_seconds,
        "kill_to_resumed_seconds": round(recovery.to_resumed, 2),
        "kill_to_training_seconds": round(recovery.to_training, 2),
        "steps_trained_again": recovery.steps_lost,
    }
