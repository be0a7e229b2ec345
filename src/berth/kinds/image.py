"""The job kind ``image``: text-to-image, PNGs as artifacts.

Input: ``{"prompt": ..., "n", "width", "height", "steps", "seed", "negative_prompt",
"guidance_scale"}`` (all but the prompt optional); the job's ``model`` names a text-to-image
model (default ``sdxl-turbo``). Progress is reported after every denoising step; cancelling
the job stops the model at its next step.

Output: ``image-0.png``, ``image-1.png``, ... in the job's folder, and the result
``{"model", "seed", "width", "height", "steps", "artifacts"}``. A job without a seed gets a
random one, recorded in its result.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from berth import errors
from berth.hookspecs import Registry
from berth.jobs.context import JobContext
from berth.jobs.kind import JobKind
from berth.services.images import draw
from berth.tasks import image as images
from berth.tasks.image import IMAGE, ImageRequest, Progress

DEFAULT_MODEL = "sdxl-turbo"
Side = Field(
    default=None,
    ge=images.MIN_SIDE,
    le=images.MAX_SIDE,
    multiple_of=images.SIDE_STEP,
    description="Pixels, a multiple of 8 (default: the model's own size).",
)


class ImageParams(BaseModel):
    """Input of the ``image`` kind."""

    model_config = ConfigDict(extra="forbid")

    prompt: str = Field(min_length=1, max_length=images.MAX_PROMPT_CHARS)
    negative_prompt: str | None = Field(default=None, max_length=images.MAX_PROMPT_CHARS)
    n: int = Field(default=1, ge=1, le=images.MAX_IMAGES, description="Images to draw.")
    width: int | None = Side
    height: int | None = Side
    steps: int | None = Field(
        default=None, ge=1, le=images.MAX_STEPS, description="Denoising steps."
    )
    seed: int | None = Field(default=None, ge=0, le=images.MAX_SEED)
    guidance_scale: float | None = Field(default=None, ge=0, le=images.MAX_GUIDANCE)

    def request(self) -> ImageRequest:
        return ImageRequest(**self.model_dump())


async def image(ctx: JobContext, params: ImageParams) -> dict[str, Any]:
    """Draw the images through the model pool and save them as PNG artifacts."""
    alias = ctx.job.model or DEFAULT_MODEL
    models = ctx.models
    models.check(alias, IMAGE)

    async def on_step(step: Progress) -> None:
        ctx.check_cancelled()
        fraction = min(1.0, step.step / max(step.total, 1))
        await ctx.progress(fraction, f"denoising step {step.step} of {step.total}")

    ctx.check_cancelled()
    try:
        drawn = await draw(models, alias, params.request(), on_step)
    except errors.InvalidRequest as exc:
        raise errors.InvalidJobInput(exc.message) from exc
    names = [f"image-{i}.png" for i in range(len(drawn.pngs))]
    for name, png in zip(names, drawn.pngs, strict=True):
        await asyncio.to_thread((ctx.output_dir / name).write_bytes, png)
        await ctx.add_artifact(name, "image/png")
    return {
        "model": alias,
        "seed": drawn.seed,
        "width": drawn.width,
        "height": drawn.height,
        "steps": drawn.steps,
        "artifacts": names,
    }


def register(registry: Registry) -> None:
    """Register the kind."""
    registry.add_kind(
        JobKind(
            "image",
            image,
            "Draws images for a prompt with the job's text-to-image model (default "
            f"{DEFAULT_MODEL}) into image-0.png, image-1.png, ...; reports every denoising step.",
            input_model=ImageParams,
            task=IMAGE,
            default_model=DEFAULT_MODEL,
        )
    )
