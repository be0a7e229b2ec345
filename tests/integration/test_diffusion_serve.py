"""A diffusion LoRA a ``train`` job made, served as a text-to-image model on the tiny Stable
Diffusion pipeline (CPU, float32): the job's result names the model, which is in the catalog
the moment the job ends and draws, through the images service and the real pool, what the
training's own sample path drew with the adapter (same prompt and seed) and not what the base
draws; after a restart it is in the catalog again; a changed, missing or foreign adapter file
is refused at load, naming the file."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from berth import errors
from berth.app import Berth
from berth.jobs.job import JobStatus
from berth.jobs.outputs import job_dir
from berth.models.spec import ModelSpec
from berth.runners.diffusion import DiffusionRunner
from berth.services.trained_images import checkpoint_alias, trained_name
from berth.settings import Settings
from berth.tasks.image import ImageRequest
from berth.training.checkpoints import ADAPTER_WEIGHTS, file_sha256
from berth.training.diffusion_config import TrainConfig
from berth.training.diffusion_lora import DiffusionLoraTrainer
from tests.tiny.captioned import build_captioned
from tests.tiny.diffusion import build_tiny_diffusion

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(600)]

BASE = "tiny-sd"
PROMPT, SEED, STEPS = "a cat", 3, 2
CONFIG = {
    "job_name": "Serve_Me",
    "datasets": [{"folder_path": "set", "resolution": 64}],
    "network": {"rank": 4, "alpha": 8},
    "train": {"steps": 8, "lr": 2e-2, "batch_size": 2, "seed": 1},
    "save_every": 4,
    "sample_every": 8,
    "sample": {"prompts": [PROMPT], "steps": STEPS, "seed": SEED, "guidance_scale": 1.0},
}
REQUEST = ImageRequest(PROMPT, seed=SEED, steps=STEPS, guidance_scale=1.0)
TOLERANCE = 2
"""Most a pixel channel (0-255) may differ between two draws of the same thing."""


def pixels(png: bytes) -> Any:
    with Image.open(io.BytesIO(png)) as image:
        return np.asarray(image.convert("RGB"), dtype=np.int16)


def difference(a: bytes, b: bytes) -> tuple[float, int]:
    """The mean and the largest absolute difference of two PNGs' pixels."""
    delta = np.abs(pixels(a) - pixels(b))
    return float(delta.mean()), int(delta.max())


def home_with_base(tmp_path: Path) -> tuple[Path, Path]:
    home = tmp_path / "home"
    model = build_tiny_diffusion(tmp_path / "tiny-sd")
    build_captioned(home / "set", {"a": "a cat", "b": "a dog"})
    (home / "catalog.toml").write_text(
        f'[models.{BASE}]\ntask = "image"\nrunner = "diffusers"\nsource = "local:{model}"\n'
        f'[models.{BASE}.options]\ntransport = "thread"\n'
    )
    return home, model


async def draw(berth: Berth, alias: str) -> bytes:
    drawn = await berth.services.images.generate(None, alias, REQUEST)
    return drawn.pngs[0]


async def test_a_finished_train_job_serves_its_adapter(tmp_path: Path) -> None:
    home, model = home_with_base(tmp_path)
    settings = Settings(home=home)
    async with Berth(settings) as berth, berth.dispatcher():
        submitted = await berth.services.jobs.submit(None, "train", CONFIG, model=BASE)
        job = await berth.services.jobs.follow(None, submitted.job.id, poll_seconds=0.1)
        assert job.status is JobStatus.SUCCEEDED, job.error
        assert job.result is not None
        served = job.result["served_model"]
        assert served == trained_name(BASE, "Serve_Me", job.id)
        assert served == f"ft-{BASE}-serve_me-{job.id[-8:]}"
        folder = job_dir(home / "outputs", job)
        spec = berth.catalog.get(served)
        assert spec.task.value == "image" and spec.runner == "diffusers"
        assert spec.source == f"local:{model}"
        assert spec.options.runner_options == {
            "adapter": str(folder),
            "adapter_sha256": file_sha256(folder / ADAPTER_WEIGHTS),
            "adapter_base": BASE,
        }
        for step in (4, 8):
            assert checkpoint_alias(served, step) in berth.catalog
        base_png, tuned_png = await draw(berth, BASE), await draw(berth, served)
    sample_png = (folder / "sample_000008_0.png").read_bytes()
    apart, _ = difference(base_png, tuned_png)
    _, off = difference(tuned_png, sample_png)
    print(f"\nbase vs served mean |diff| {apart:.2f}; served vs training sample max {off}")
    assert apart > 1.0, "the adapter should change what the model draws"
    assert off <= TOLERANCE, "the served model should draw what the training sampled"

    async with Berth(settings) as berth:
        assert served in berth.catalog
        assert checkpoint_alias(served, 4) in berth.catalog
        again = await draw(berth, served)
    assert difference(again, tuned_png)[1] <= TOLERANCE

    weights = folder / ADAPTER_WEIGHTS
    tampered = bytearray(weights.read_bytes())
    tampered[-1] ^= 0xFF
    weights.write_bytes(bytes(tampered))
    async with Berth(settings) as berth:
        with pytest.raises(errors.ModelCorrupt, match="does not match its sha256") as refused:
            await draw(berth, served)
    assert str(weights) in refused.value.message
    weights.unlink()
    async with Berth(settings) as berth:
        with pytest.raises(errors.ModelLoadFailed, match=f"no adapter weights at {weights}"):
            await draw(berth, served)


def adapter_spec(model: Path, folder: Path, sha256: str | None) -> ModelSpec:
    options: dict[str, str] = {"adapter": str(folder)}
    if sha256 is not None:
        options["adapter_sha256"] = sha256
    return ModelSpec.model_validate(
        {
            "alias": "ft-tiny",
            "task": "image",
            "runner": "diffusers",
            "source": f"local:{model}",
            "options": {"transport": "thread", "runner_options": options},
        }
    )


def test_the_runner_draws_with_a_saved_adapter_and_refuses_one_it_cannot_trust(
    tmp_path: Path,
) -> None:
    home, model = home_with_base(tmp_path)
    config = TrainConfig.model_validate(CONFIG)
    trainer = DiffusionLoraTrainer(config, model, [home / "set"])
    for _ in range(2):
        trainer.train_step()
    trained = tmp_path / "trained"
    trained.mkdir()
    trainer.save(trained)
    weights = trained / ADAPTER_WEIGHTS
    sha256 = file_sha256(weights)

    runner = DiffusionRunner()
    runner.load(adapter_spec(model, trained, sha256), model, "cpu")
    [drawn] = runner.run([REQUEST])
    assert difference(drawn.pngs[0], trainer.samples()[0])[1] <= TOLERANCE

    with pytest.raises(errors.ModelCorrupt, match=f"the adapter at {weights} does not match"):
        DiffusionRunner().load(adapter_spec(model, trained, "0" * 64), model, "cpu")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(errors.ModelLoadFailed, match="no adapter weights at"):
        DiffusionRunner().load(adapter_spec(model, empty, None), model, "cpu")

    from safetensors.torch import save_file

    bare = tmp_path / "bare"
    bare.mkdir()
    save_file(trainer.adapter_state(), str(bare / ADAPTER_WEIGHTS))
    with pytest.raises(errors.ModelLoadFailed, match="does not record its LoRA network"):
        DiffusionRunner().load(adapter_spec(model, bare, None), model, "cpu")
