"""A diffusion LoRA run survives kill -9: it resumes from its last whole checkpoint at that
step, and its final adapter equals the one an uninterrupted run with the same seed makes.

A real ``berth worker`` trains 24 steps on the tiny Stable Diffusion pipeline, checkpointing
every 4, and is killed with SIGKILL once the checkpoint of step 8 is on disk. A second worker
claims the job when the lease expires and resumes at the newest checkpoint's step (never step
0). The test then trains the same config without interruption in this process and compares
the two adapters tensor by tensor.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from berth.app import Berth
from berth.jobs.job import JobStatus
from berth.jobs.outputs import job_dir
from berth.settings import Settings
from berth.training.checkpoints import CheckpointStore
from berth.training.diffusion_config import TrainConfig
from berth.training.diffusion_lora import DiffusionLoraTrainer
from tests.integration.test_diffusion_train import catalog
from tests.integration.worker_process import WorkerProcess, worker_env
from tests.tiny.captioned import build_captioned
from tests.tiny.diffusion import build_tiny_diffusion

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(600)]

STEPS = 24
SETTINGS = {
    "BERTH_LEASE_SECONDS": "4",
    "BERTH_HEARTBEAT_SECONDS": "0.5",
    "BERTH_REAP_SECONDS": "0.3",
    "BERTH_POLL_SECONDS": "0.2",
    "BERTH_DRAIN_SECONDS": "5",
}
CONFIG = {
    "datasets": [{"folder_path": "set", "resolution": 64}],
    "network": {"rank": 4, "alpha": 4},
    "train": {"steps": STEPS, "lr": 1e-3, "batch_size": 2, "seed": 11},
    "save_every": 4,
}


async def wait_for_step(store: CheckpointStore, step: int, worker: WorkerProcess) -> None:
    async with asyncio.timeout(240):
        while not store.path_for(step).is_dir():
            assert worker.process.poll() is None, worker.log()
            await asyncio.sleep(0.02)


@pytest.mark.parametrize("kind", ["sqlite"])
async def test_a_killed_training_resumes_at_its_step_and_ends_equal(
    kind: str, store_url_factory: Callable[[str], str], tmp_path: Path
) -> None:
    home = tmp_path / "home"
    model = build_tiny_diffusion(tmp_path / "tiny-sd")
    folder = build_captioned(home / "set", {"a": "a cat", "b": "a dog", "c": "a bird"})
    (home / "catalog.toml").write_text(catalog(model))
    url = store_url_factory(kind)
    env = worker_env(home, url, SETTINGS)
    started: list[WorkerProcess] = []
    async with Berth(Settings(home=home, database_url=url)) as berth:
        submitted = await berth.services.jobs.submit(
            None, "train", CONFIG, model="tiny-sd", max_attempts=3
        )
        store = CheckpointStore(job_dir(home / "outputs", submitted.job) / "checkpoints")
        try:
            first = WorkerProcess(env, home / "worker-1.log")
            started.append(first)
            await wait_for_step(store, 8, first)
            first.kill()
            latest = store.latest()
            assert latest is not None and 8 <= latest.step < STEPS, "the kill should land mid-run"
            second = WorkerProcess(env, home / "worker-2.log")
            started.append(second)
            job = await berth.services.jobs.follow(None, submitted.job.id, poll_seconds=0.1)
            assert await second.stop() == 0, second.log()
        finally:
            for worker in started:
                worker.close()

    assert job.status is JobStatus.SUCCEEDED and job.attempts == 2, job.error
    assert job.result is not None
    assert job.result["resumed_at"] == latest.step, "resumed at the last checkpoint's step"
    resumed = load_file(str(job_dir(home / "outputs", job) / "adapter_model.safetensors"))

    trainer = DiffusionLoraTrainer(TrainConfig.model_validate(CONFIG), model, [folder])
    while not trainer.done:
        trainer.train_step()
    straight = trainer.adapter_state()
    assert resumed.keys() == straight.keys()
    worst = max(float((resumed[k] - straight[k]).abs().max()) for k in straight)
    print(f"\ntraining crash ({kind}): killed after step {latest.step}, largest difference "
          f"from an uninterrupted run {worst:.2e}")  # fmt: skip
    for name, tensor in straight.items():
        torch.testing.assert_close(resumed[name], tensor, rtol=1e-4, atol=1e-5)
    assert [line for worker in started for line in worker.errors()] == []
