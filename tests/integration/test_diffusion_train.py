"""The ``train`` kind on the tiny Stable Diffusion pipeline, through a real Berth with its
dispatcher: a LoRA memorises two captioned images (the loss at fixed noises falls), writes
checkpoints, draws sample images as artifacts and reports each step's loss."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from berth.app import Berth
from berth.jobs.job import EventType, JobStatus
from berth.jobs.outputs import job_dir
from berth.runners.diffusion_loss import denoise_losses
from berth.settings import Settings
from berth.tasks.denoise import DenoiseRequest
from berth.training.checkpoints import CheckpointStore
from berth.training.diffusion_config import TrainConfig
from berth.training.diffusion_lora import DiffusionLoraTrainer
from tests.tiny.captioned import build_captioned
from tests.tiny.diffusion import build_tiny_diffusion

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(600)]

STEPS = 60
CONFIG = {
    "job_name": "memorise",
    "datasets": [{"folder_path": "set", "resolution": 64}],
    "network": {"rank": 8, "alpha": 8},
    "train": {"steps": STEPS, "lr": 1e-2, "batch_size": 2, "seed": 5},
    "save_every": 30,
    "sample_every": 30,
    "sample": {"prompts": ["a cat"], "steps": 2},
}


def catalog(model: Path) -> str:
    return f"""
[models.tiny-sd]
task = "image"
runner = "diffusers"
source = "local:{model}"
[models.tiny-sd.options]
transport = "thread"
"""


def fixed_noise_loss(trainer: DiffusionLoraTrainer, folder: Path) -> float:
    total = 0.0
    for name, caption in (("a", "a cat"), ("b", "a dog")):
        request = DenoiseRequest((folder / f"{name}.png").read_bytes(), (caption,), 64, 8)
        total += sum(denoise_losses(trainer.pipe, request).losses[0])
    return total


async def test_a_lora_memorises_two_images(tmp_path: Path) -> None:
    home = tmp_path / "home"
    model = build_tiny_diffusion(tmp_path / "tiny-sd")
    folder = build_captioned(home / "set", {"a": "a cat", "b": "a dog"})
    (home / "catalog.toml").write_text(catalog(model))
    async with Berth(Settings(home=home)) as berth, berth.dispatcher():
        submitted = await berth.services.jobs.submit(None, "train", CONFIG, model="tiny-sd")
        job = await berth.services.jobs.follow(None, submitted.job.id, poll_seconds=0.1)
        events = await berth.stores.jobs.events(job.id)
    assert job.status is JobStatus.SUCCEEDED, job.error
    folder_of_job = job_dir(home / "outputs", job)
    assert job.result is not None and job.result["steps"] == STEPS
    assert job.result["resumed_at"] == 0
    names = {artifact.name for artifact in job.artifacts}
    assert {"sample_000030_0.png", "sample_000060_0.png", "adapter_model.safetensors"} <= names
    assert (folder_of_job / "sample_000030_0.png").read_bytes()[:4] == b"\x89PNG"
    store = CheckpointStore(folder_of_job / "checkpoints")
    assert [path.name for path in store.saved()] == ["step-00000030", "step-00000060"]
    latest = store.latest()
    assert latest is not None and latest.adapter_sha256 == job.result["adapter_sha256"]
    losses = [json.loads(line) for line in (folder_of_job / "loss.jsonl").read_text().splitlines()]
    assert [entry["step"] for entry in losses] == list(range(1, STEPS + 1))
    messages = [str(e.data["message"]) for e in events if e.type is EventType.PROGRESS]
    assert sum("loss" in message for message in messages) == STEPS

    trainer = DiffusionLoraTrainer(TrainConfig.model_validate(CONFIG), model, [folder])
    before = fixed_noise_loss(trainer, folder)
    trainer.restore(latest.path)
    after = fixed_noise_loss(trainer, folder)
    print(f"\nfixed-noise loss on the training images: {before:.4f} before, {after:.4f} after")
    assert after < 0.9 * before, "the loss at fixed noises should fall on a memorised set"
