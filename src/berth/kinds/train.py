"""The job kind ``train``: a LoRA on a diffusers text-to-image model from captioned image
folders, described as in :mod:`berth.training.diffusion_config` (``berth run train.yaml``).

The job's ``model`` is the catalog base model. While it trains, the run holds four times the
base's weights in the pool's memory budget. Every ``save_every`` steps a checkpoint (adapter,
optimizer, step) is written atomically under ``checkpoints/`` in the job's folder; a resumed
attempt goes on from the newest whole one. Every ``sample_every`` steps one image per sample
prompt is drawn with the adapter as ``sample_{step:06d}_{k}.png``. Each step's loss is a
progress event and a line of ``loss.jsonl``. The end result is ``adapter_model.safetensors``
with its sha256, served at once as the text-to-image model ``served_model``
(``ft-<base>-<job name>-<id tail>``, see :mod:`berth.services.trained_images`); each
checkpoint is served too, as that name with ``-step-N``, as it is written.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any

from berth import errors
from berth.hookspecs import Registry
from berth.jobs.context import JobContext
from berth.jobs.kind import JobKind
from berth.tasks.image import IMAGE
from berth.training.checkpoints import (
    ADAPTER_WEIGHTS,
    CheckpointStore,
    SavedCheckpoint,
    file_sha256,
)
from berth.training.diffusion_config import TrainConfig
from berth.training.diffusion_lora import DiffusionLoraTrainer
from berth.training.thread import TrainingThread

MEMORY_FACTOR = 4
LOSSES = "loss.jsonl"
WEIGHT_SUFFIXES = (".safetensors", ".bin")


def weights_bytes(base: Path) -> int:
    """Bytes of the weight files in a pipeline folder."""
    return sum(p.stat().st_size for p in base.rglob("*") if p.suffix in WEIGHT_SUFFIXES)


def append_loss(path: Path, step: int, loss: float) -> None:
    with path.open("a", encoding="utf-8") as out:
        out.write(json.dumps({"step": step, "loss": loss}) + "\n")


async def save_samples(
    ctx: JobContext, trainer: DiffusionLoraTrainer, thread: TrainingThread
) -> list[str]:
    """Draw the sample prompts and record each PNG as an artifact."""
    names = []
    for index, png in enumerate(await thread.run(trainer.samples)):
        name = f"sample_{trainer.step:06d}_{index}.png"
        await asyncio.to_thread((ctx.output_dir / name).write_bytes, png)
        await ctx.add_artifact(name, "image/png")
        names.append(name)
    return names


async def serve_checkpoint(ctx: JobContext, config: TrainConfig, saved: SavedCheckpoint) -> None:
    """Put the checkpoint's adapter in the catalog (``...-step-N``), if this run can."""
    if ctx.training is None:
        return
    with contextlib.suppress(errors.BerthError):
        await asyncio.to_thread(
            ctx.training.serve_image_adapter, ctx.job, config.job_name, saved.path,
            saved.adapter_sha256, saved.step, checkpoint=True,
        )  # fmt: skip


async def steps(
    ctx: JobContext, trainer: DiffusionLoraTrainer, store: CheckpointStore, thread: TrainingThread
) -> None:
    """Train to the end, checkpointing, sampling and reporting as configured."""
    config = trainer.config
    losses = ctx.output_dir / LOSSES
    while not trainer.done:
        ctx.check_cancelled()
        loss = await thread.run(trainer.train_step)
        await asyncio.to_thread(append_loss, losses, trainer.step, loss)
        await ctx.progress(
            trainer.step / trainer.total_steps,
            f"step {trainer.step} of {trainer.total_steps}: loss {loss:.6f}",
        )
        if trainer.step % config.save_every == 0 or trainer.done:
            metrics = {"train_loss": loss}
            saved = await thread.run(store.save, trainer.step, trainer.save, metrics)
            await serve_checkpoint(ctx, config, saved)
        if (
            config.sample_every
            and config.sample.prompts
            and trainer.step % config.sample_every == 0
        ):
            await save_samples(ctx, trainer, thread)


async def train(ctx: JobContext, config: TrainConfig) -> dict[str, Any]:
    """Train the LoRA, resuming from the newest checkpoint, and save the adapter."""
    alias = ctx.job.model
    if alias is None:
        raise errors.InvalidJobInput("A train job needs a model: name a diffusers base model.")
    if ctx.training is None:
        raise errors.BerthError("This dispatcher cannot train: it has no fine-tuning service.")
    host = ctx.training
    base = host.base_path(alias)
    folders = [ctx.roots.resolve(d.folder_path) for d in config.datasets]
    need = MEMORY_FACTOR * await asyncio.to_thread(weights_bytes, base)
    async with (
        host.reserve(ctx.job.id, alias, need),
        TrainingThread(f"train-{ctx.job.id[-8:]}") as thread,
    ):
        device = host.device(alias)
        trainer = await thread.run(DiffusionLoraTrainer, config, base, folders, device)
        store = CheckpointStore(ctx.output_dir / "checkpoints")
        await asyncio.to_thread(store.clear_temporary)
        latest = await asyncio.to_thread(store.latest)
        if latest is not None:
            await thread.run(trainer.restore, latest.path)
        resumed_at = trainer.step
        await steps(ctx, trainer, store, thread)
        final = store.path_for(trainer.step) / ADAPTER_WEIGHTS
        adapter = ctx.output_dir / ADAPTER_WEIGHTS
        await asyncio.to_thread(adapter.write_bytes, final.read_bytes())
    await ctx.add_artifact(ADAPTER_WEIGHTS, "application/octet-stream")
    sha256 = await asyncio.to_thread(file_sha256, adapter)
    served = await asyncio.to_thread(
        host.serve_image_adapter, ctx.job, config.job_name, ctx.output_dir, sha256, trainer.step
    )
    return {
        "job_name": config.job_name,
        "model": alias,
        "steps": trainer.step,
        "resumed_at": resumed_at,
        "adapter": ADAPTER_WEIGHTS,
        "adapter_sha256": sha256,
        "served_model": served,
    }


def register(registry: Registry) -> None:
    """Register the kind."""
    registry.add_kind(
        JobKind(
            "train",
            train,
            "Trains a LoRA on a diffusers text-to-image model from captioned image folders, "
            "with resumable checkpoints, loss per step and sample images.",
            input_model=TrainConfig,
            task=IMAGE,
            concurrency=1,
        )
    )
