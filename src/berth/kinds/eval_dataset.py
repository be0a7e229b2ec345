"""The job kind ``eval-dataset``: how well a text-to-image model denoises a captioned image
folder, and whether the captions help (the check a training suite runs before and during a
run).

Input: the folder (images with caption files beside them), the denoising settings
(``samples_per_image`` fixed noises and timesteps, ``fixed_noise_std``, ``eval_resolution``),
which images (``sample_fraction`` chosen with ``seed``, at most ``max_samples``), and where the
report goes (``output_folder``, named ``{job_name}_{step:06d}.json``). The job's ``model`` is
a catalog text-to-image model; it answers :data:`~berth.tasks.denoise.DENOISE` in its own
model process.

Per image the model measures the loss with the caption and with a blank one at the same noises
(``ablation_delta`` = blank minus caption: how much the caption lowers the loss). Captions are
flagged ``missing`` (no caption file), ``empty``, or ``no_effect`` (the delta is at most
``min_ablation_delta``). Each image's result is appended to ``images.jsonl`` in the job's
folder as it finishes; a resumed attempt reads it back and measures only the images left.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from berth import errors
from berth.hookspecs import Registry
from berth.jobs.context import JobContext
from berth.jobs.kind import JobKind
from berth.jobs.paths import ServerPath
from berth.tasks.denoise import DENOISE, MAX_SAMPLES_PER_IMAGE, DenoiseRequest
from berth.training.diffusion_data import CaptionedImage, choose, read_folder
from berth.training.diffusion_report import JOURNAL, build_report, read_journal, write_json


class EvalDatasetParams(BaseModel):
    """Input of the ``eval-dataset`` kind."""

    model_config = ConfigDict(extra="forbid")

    folder_path: ServerPath = Field(description="The image folder (under BERTH_HOME or a data "
                                    "folder), captions in files beside the images.")  # fmt: skip
    caption_ext: str = Field(default="txt", pattern=r"^\.?[A-Za-z0-9_-]{1,16}$")
    output_folder: ServerPath | None = Field(
        default=None, description="Where the report goes (default: the job's folder only)."
    )
    job_name: str = Field(default="eval", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    step: int = Field(default=0, ge=0, le=999_999, description="The training step evaluated.")
    samples_per_image: int = Field(default=4, ge=1, le=MAX_SAMPLES_PER_IMAGE)
    fixed_noise_std: float = Field(default=1.0, gt=0, le=10)
    eval_resolution: int = Field(default=512, ge=8, le=2048, multiple_of=8)
    max_samples: int | None = Field(default=None, ge=1, description="Most images measured.")
    sample_fraction: float = Field(default=1.0, gt=0, le=1)
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    min_ablation_delta: float = Field(
        default=0.0, description="A caption whose delta is at most this is flagged no_effect."
    )

    def request(self, data: bytes, captions: tuple[str, ...]) -> DenoiseRequest:
        return DenoiseRequest(
            data,
            captions,
            self.eval_resolution,
            self.samples_per_image,
            self.fixed_noise_std,
            self.seed,
        )


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


async def measure(
    ctx: JobContext, alias: str, params: EvalDatasetParams, image: CaptionedImage
) -> dict[str, Any]:
    """One image's record: its losses with and without its caption, and its flags."""
    data = await asyncio.to_thread(image.path.read_bytes)
    caption = image.caption
    captions = ("", caption) if caption else ("",)
    try:
        [answer] = await ctx.models.run(alias, DENOISE, [params.request(data, captions)])
    except errors.InvalidRequest as exc:
        raise errors.InvalidJobInput(f"Image {image.path}: {exc.message}") from exc
    blank = list(answer.losses[0])
    record: dict[str, Any] = {
        "image": image.name,
        "caption": caption,
        "attempt": ctx.job.attempts,
        "timesteps": list(answer.timesteps),
        "losses_with_blank": blank,
        "loss_with_blank": mean(blank),
        "losses_with_caption": None,
        "loss_with_caption": None,
        "ablation_delta": None,
        "flags": [],
    }
    if caption is None:
        record["flags"] = ["missing"]
    elif not caption:
        record["flags"] = ["empty"]
    else:
        with_caption = list(answer.losses[1])
        delta = mean(blank) - mean(with_caption)
        record.update(
            losses_with_caption=with_caption,
            loss_with_caption=mean(with_caption),
            ablation_delta=delta,
            flags=["no_effect"] if delta <= params.min_ablation_delta else [],
        )
    return record


def append(journal: Path, record: dict[str, Any]) -> None:
    """Add one image's record to the journal, on disk before the next image starts."""
    fd = os.open(journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (json.dumps(record) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)


async def eval_dataset(ctx: JobContext, params: EvalDatasetParams) -> dict[str, Any]:
    """Measure every chosen image not yet in the journal, then write the report."""
    alias = ctx.job.model
    if alias is None:
        raise errors.InvalidJobInput(
            "An eval-dataset job needs a model: name a text-to-image model from the catalog."
        )
    ctx.models.check(alias, DENOISE)
    folder = ctx.roots.resolve(params.folder_path)
    images = await asyncio.to_thread(read_folder, folder, params.caption_ext)
    chosen = choose(images, params.sample_fraction, params.max_samples, params.seed)
    journal = ctx.output_dir / JOURNAL
    done = await asyncio.to_thread(read_journal, journal)
    resumed_with = sum(1 for image in chosen if image.name in done)
    for image in chosen:
        if image.name in done:
            continue
        ctx.check_cancelled()
        record = await measure(ctx, alias, params, image)
        await asyncio.to_thread(append, journal, record)
        done[image.name] = record
        finished = sum(1 for i in chosen if i.name in done)
        await ctx.progress(finished / len(chosen), f"image {finished} of {len(chosen)}")
    report = build_report(ctx, alias, params, folder, images, [done[i.name] for i in chosen])
    name = f"{params.job_name}_{params.step:06d}.json"
    await asyncio.to_thread(write_json, ctx.output_dir / name, report)
    await ctx.add_artifact(name, "application/json")
    written = str(ctx.output_dir / name)
    if params.output_folder is not None:
        target = ctx.roots.resolve(params.output_folder) / name
        await asyncio.to_thread(write_json, target, report)
        written = str(target)
    return {
        "report": written,
        "summary": report["summary"],
        "resumed_with": resumed_with,
        "measured": len(chosen) - resumed_with,
    }


def register(registry: Registry) -> None:
    """Register the kind."""
    registry.add_kind(
        JobKind(
            "eval-dataset",
            eval_dataset,
            "Measures a text-to-image model's denoising loss on a captioned image folder, "
            "with and without each caption, and flags captions that are missing, empty or "
            "have no effect; writes {job_name}_{step:06d}.json.",
            input_model=EvalDatasetParams,
            task=DENOISE,
        )
    )
