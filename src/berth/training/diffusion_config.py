"""The input of the ``train`` kind: a diffusion LoRA run in the shape diffusion training suites
use (``berth run train.yaml`` reads it from the ``input`` of a run file)::

    kind: train
    model: sd-1.5                  # a catalog text-to-image model (diffusers)
    input:
      job_name: cats
      datasets:
        - {folder_path: data/cats, caption_ext: txt, resolution: 512}
      network: {type: lora, rank: 8, alpha: 8}
      train: {steps: 1000, lr: 1.0e-4, batch_size: 1, seed: 0}
      save_every: 250
      sample_every: 250
      sample: {prompts: ["a photo of a cat"], steps: 20, seed: 0}
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from berth import errors
from berth.jobs.paths import ServerPath


class Dataset(BaseModel):
    """One image folder with caption files beside the images."""

    model_config = ConfigDict(extra="forbid")

    folder_path: ServerPath
    caption_ext: str = Field(default="txt", pattern=r"^\.?[A-Za-z0-9_-]{1,16}$")
    resolution: int = Field(default=512, ge=8, le=2048, multiple_of=8)


class Network(BaseModel):
    """The LoRA put on the UNet's attention projections."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["lora"] = "lora"
    rank: int = Field(default=8, ge=1, le=256)
    alpha: int = Field(default=8, ge=1, le=1024)
    target_modules: list[str] = Field(
        default_factory=lambda: ["to_q", "to_k", "to_v", "to_out.0"], min_length=1
    )


class Train(BaseModel):
    """How long and how fast."""

    model_config = ConfigDict(extra="forbid")

    steps: int = Field(ge=1, le=1_000_000)
    lr: float = Field(default=1e-4, gt=0, le=1)
    batch_size: int = Field(default=1, ge=1, le=64)
    seed: int = Field(default=0, ge=0, le=2**31 - 1)


class Sample(BaseModel):
    """The images drawn with the adapter every ``sample_every`` steps."""

    model_config = ConfigDict(extra="forbid")

    prompts: list[str] = Field(default_factory=list, max_length=16)
    steps: int = Field(default=20, ge=1, le=100)
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    guidance_scale: float = Field(default=1.0, ge=0, le=50)


class TrainConfig(BaseModel):
    """Input of the ``train`` kind."""

    model_config = ConfigDict(extra="forbid")

    job_name: str = Field(default="lora", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    datasets: list[Dataset] = Field(min_length=1, max_length=16)
    network: Network = Field(default_factory=Network)
    train: Train
    save_every: int = Field(default=250, ge=1)
    sample_every: int | None = Field(default=None, ge=1)
    sample: Sample = Field(default_factory=Sample)


def check_run_input(data: Any, where: Callable[[tuple[int | str, ...]], str]) -> None:
    """Raise InvalidRequest naming the first bad field of a run file's ``input`` for ``train``
    (``where(loc)`` says the file and line of a field)."""
    try:
        TrainConfig.model_validate(data if data is not None else {})
    except pydantic.ValidationError as exc:
        found = exc.errors(include_url=False)
        problem = ([e for e in found if e["type"] == "extra_forbidden"] or found)[0]
        loc = tuple(problem["loc"])
        field = ".".join(str(part) for part in ("input", *loc))
        raise errors.InvalidRequest(f"{where(loc)}, field {field}: {problem['msg']}.") from None
