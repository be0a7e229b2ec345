"""What a text-to-image model answers when asked how well it denoises an image: the loss a
diffusion training step would see, at a fixed set of noises and timesteps.

The ``eval-dataset`` job kind sends one :class:`DenoiseRequest` per image with the captions to
compare (its own and a blank one); the model answers a :class:`DenoiseLosses` with one loss
per caption and sample. Every caption of a request meets the same noises and timesteps, so the
losses are paired. Plain data, so it crosses process boundaries.
"""

from __future__ import annotations

from dataclasses import dataclass

from berth.tasks.task import ModelTask, Task

MAX_SAMPLES_PER_IMAGE = 64


@dataclass(frozen=True)
class DenoiseRequest:
    """One image (encoded, PNG or JPEG) and the captions to measure its loss with.

    Sample ``k`` uses noise drawn from ``seed + k`` scaled by ``noise_std`` and the timestep
    ``(k + 0.5) / samples`` of the way through the model's training schedule, the same for
    every caption and every image, so two runs (before and after a training step) compare.
    """

    image: bytes
    captions: tuple[str, ...]
    resolution: int
    samples: int = 4
    noise_std: float = 1.0
    seed: int = 0


@dataclass(frozen=True)
class DenoiseLosses:
    """Mean squared error of the model's prediction, per caption (outer) and sample (inner),
    with the timesteps the samples used."""

    losses: tuple[tuple[float, ...], ...]
    timesteps: tuple[int, ...]


DENOISE = ModelTask("denoising losses", frozenset({Task.IMAGE}), DenoiseLosses)
