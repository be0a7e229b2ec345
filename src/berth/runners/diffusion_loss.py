"""The denoising loss of a diffusers pipeline on one image: what a training step minimises.

The image is resized (shorter side to the resolution) and centre-cropped square, encoded by
the VAE (its mean, so the latent does not depend on a draw), noised at a fixed timestep with
fixed seeded noise, and the UNet's prediction is compared with its target (the noise, or the
velocity for v-prediction models). The ``eval-dataset`` kind and the diffusion LoRA trainer
share these steps.
"""

from __future__ import annotations

import io
from typing import Any

from berth import errors
from berth.tasks.denoise import MAX_SAMPLES_PER_IMAGE, DenoiseLosses, DenoiseRequest


def image_tensor(data: bytes, resolution: int) -> Any:
    """The image as a ``1x3xRxR`` tensor in [-1, 1]; InvalidRequest if it cannot be read."""
    import numpy as np
    import torch
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(data)).convert("RGB")
    except (UnidentifiedImageError, OSError) as exc:
        raise errors.InvalidRequest(f"The image cannot be read ({exc}).") from exc
    square = ImageOps.fit(image, (resolution, resolution), Image.Resampling.BICUBIC)
    pixels = np.asarray(square, dtype=np.float32) / 127.5 - 1.0
    return torch.from_numpy(pixels).permute(2, 0, 1).unsqueeze(0)


def encode_image(pipe: Any, pixels: Any) -> Any:
    """The VAE latent of ``pixels`` (the distribution's mean), scaled as the UNet expects."""
    vae = pipe.vae
    pixels = pixels.to(device=vae.device, dtype=vae.dtype)
    latent = vae.encode(pixels).latent_dist.mean
    return latent * float(getattr(vae.config, "scaling_factor", 1.0))


def encode_text(pipe: Any, captions: list[str]) -> Any:
    """The text encoder's hidden states for ``captions``, padded to the tokenizer's length."""
    tokens = pipe.tokenizer(
        captions,
        padding="max_length",
        max_length=pipe.tokenizer.model_max_length,
        truncation=True,
        return_tensors="pt",
    )
    ids = tokens.input_ids.to(pipe.text_encoder.device)
    return pipe.text_encoder(ids)[0]


def fixed_timesteps(pipe: Any, samples: int) -> list[int]:
    """``samples`` timesteps spread evenly over the scheduler's training schedule."""
    total = int(pipe.scheduler.config.num_train_timesteps)
    return [min(total - 1, int((k + 0.5) / samples * total)) for k in range(samples)]


def target(pipe: Any, latents: Any, noise: Any, timesteps: Any) -> Any:
    """What the UNet should predict: the noise, or the velocity for v-prediction."""
    kind = getattr(pipe.scheduler.config, "prediction_type", "epsilon")
    if kind == "v_prediction":
        return pipe.scheduler.get_velocity(latents, noise, timesteps)
    return noise


def prediction_loss(pipe: Any, latents: Any, noise: Any, timesteps: Any, states: Any) -> Any:
    """Mean squared error per row between the UNet's prediction and its target."""
    import torch

    noisy = pipe.scheduler.add_noise(latents, noise, timesteps)
    predicted = pipe.unet(noisy, timesteps, encoder_hidden_states=states).sample
    wanted = target(pipe, latents, noise, timesteps)
    error = torch.nn.functional.mse_loss(predicted.float(), wanted.float(), reduction="none")
    return error.mean(dim=(1, 2, 3))


def check_request(request: DenoiseRequest, multiple: int) -> None:
    """Raise InvalidRequest naming the first field of ``request`` out of range."""
    if not request.captions:
        raise errors.InvalidRequest("A denoising request needs at least one caption.")
    if not 1 <= request.samples <= MAX_SAMPLES_PER_IMAGE:
        raise errors.InvalidRequest(
            f"samples is {request.samples}; use 1 to {MAX_SAMPLES_PER_IMAGE} per image."
        )
    if request.resolution <= 0 or request.resolution % multiple:
        raise errors.InvalidRequest(
            f"resolution is {request.resolution}; this model needs a positive multiple of "
            f"{multiple}."
        )
    if request.noise_std <= 0:
        raise errors.InvalidRequest(f"noise_std is {request.noise_std}; it must be above 0.")


def denoise_losses(pipe: Any, request: DenoiseRequest) -> DenoiseLosses:
    """The loss per caption and sample of ``request``, each caption at the same noises."""
    import torch

    timesteps = fixed_timesteps(pipe, request.samples)
    with torch.inference_mode():
        latents = encode_image(pipe, image_tensor(request.image, request.resolution))
        states = encode_text(pipe, list(request.captions))
        noises = [
            torch.randn(latents.shape[1:], generator=torch.Generator("cpu").manual_seed(seed))
            for seed in range(request.seed, request.seed + request.samples)
        ]
        noise = torch.stack(noises).to(latents.device, latents.dtype) * request.noise_std
        steps = torch.tensor(timesteps, device=latents.device, dtype=torch.long)
        rows = latents.expand(request.samples, -1, -1, -1)
        losses = []
        for index in range(len(request.captions)):
            caption = states[index : index + 1].expand(request.samples, -1, -1)
            loss = prediction_loss(pipe, rows, noise, steps, caption)
            losses.append(tuple(float(value) for value in loss.cpu()))
    return DenoiseLosses(tuple(losses), tuple(timesteps))
