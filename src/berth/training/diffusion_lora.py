"""A LoRA on a diffusers UNet, trained from captioned image folders one optimizer step at a
time (blocking calls: the ``train`` kind runs them in a worker thread).

Every step is a function of the seed and the step number alone: the images of step ``n`` come
from the epoch's seeded shuffle, its noise and timesteps from a generator seeded with
``(seed, n)``. A checkpoint therefore needs only the adapter, the optimizer and the step, and a
run resumed from one takes the same steps an uninterrupted run would.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from berth.runners.diffusion import to_png
from berth.runners.diffusion_loss import encode_image, encode_text, image_tensor, prediction_loss
from berth.training.checkpoints import ADAPTER_WEIGHTS
from berth.training.diffusion_adapter import adapter_state, add_lora, restore_weights, save_adapter
from berth.training.diffusion_config import TrainConfig
from berth.training.diffusion_data import CaptionedImage, read_folder

OPTIMIZER = "optimizer.pt"
STATE = "state.json"


@dataclass(frozen=True)
class Example:
    """One training image, encoded once: its latent and its caption's text states."""

    latent: Any
    states: Any


def load_pipeline(path: Path) -> Any:
    """The diffusers pipeline in ``path``, in float32 on the CPU (the trainer moves it to its
    device), quiet."""
    import diffusers

    diffusers.utils.logging.disable_progress_bar()
    pipeline_class: Any = diffusers.DiffusionPipeline
    pipe = pipeline_class.from_pretrained(str(path), local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def dataset_images(config: TrainConfig, folders: list[Path]) -> list[tuple[CaptionedImage, int]]:
    """Every image of every dataset with the resolution it trains at."""
    found = []
    for dataset, folder in zip(config.datasets, folders, strict=True):
        for image in read_folder(folder, dataset.caption_ext):
            found.append((image, dataset.resolution))
    return found


class DiffusionLoraTrainer:
    """One diffusion LoRA run."""

    def __init__(
        self, config: TrainConfig, base: Path, folders: list[Path], device: str = "cpu"
    ) -> None:
        import torch

        torch.manual_seed(config.train.seed)
        self.config, self.device = config, device
        self.pipe = load_pipeline(base).to(device)
        for part in (self.pipe.unet, self.pipe.vae, self.pipe.text_encoder):
            part.requires_grad_(False)
        add_lora(self.pipe.unet, config.network)
        self.parameters = [p for p in self.pipe.unet.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(self.parameters, lr=config.train.lr)
        self.examples = self._encode(dataset_images(config, folders))
        self.step = 0
        self.total_steps = config.train.steps

    def _encode(self, images: list[tuple[CaptionedImage, int]]) -> list[Example]:
        import torch

        examples = []
        with torch.no_grad():
            for image, resolution in images:
                pixels = image_tensor(image.path.read_bytes(), resolution)
                latent = encode_image(self.pipe, pixels)[0]
                states = encode_text(self.pipe, [image.caption or ""])[0]
                examples.append(Example(latent, states))
        return examples

    @property
    def done(self) -> bool:
        return self.step >= self.total_steps

    def batch(self, step: int) -> list[Example]:
        """The examples of step ``step``: consecutive ones of its epoch's seeded shuffle."""
        size = self.config.train.batch_size
        count = len(self.examples)
        picked = []
        for position in range(step * size, (step + 1) * size):
            epoch, offset = divmod(position, count)
            order = list(range(count))
            random.Random(self.config.train.seed * 1_000_003 + epoch).shuffle(order)
            picked.append(self.examples[order[offset]])
        return picked

    def train_step(self) -> float:
        """Take the next step; its loss."""
        import torch

        self.pipe.unet.train()
        examples = self.batch(self.step)
        latents = torch.stack([e.latent for e in examples])
        states = torch.stack([e.states for e in examples])
        generator = torch.Generator("cpu").manual_seed(
            self.config.train.seed * 1_000_003 + self.step
        )
        noise = torch.randn(latents.shape, generator=generator).to(self.device)
        total = int(self.pipe.scheduler.config.num_train_timesteps)
        timesteps = torch.randint(0, total, (len(examples),), generator=generator)
        timesteps = timesteps.to(self.device)
        loss = prediction_loss(self.pipe, latents, noise, timesteps, states).mean()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.step += 1
        return float(loss.detach())

    def adapter_state(self) -> dict[str, Any]:
        """The LoRA weights, by name."""
        return adapter_state(self.pipe.unet)

    def save(self, folder: Path) -> None:
        """Write the adapter (see :mod:`berth.training.diffusion_adapter`), the optimizer and
        the step into ``folder``."""
        import torch

        save_adapter(self.pipe.unet, self.config.network, folder / ADAPTER_WEIGHTS)
        torch.save(self.optimizer.state_dict(), folder / OPTIMIZER)
        (folder / STATE).write_text(json.dumps({"step": self.step}))

    def restore(self, folder: Path) -> None:
        """Go on from what :meth:`save` wrote."""
        import torch

        restore_weights(self.pipe.unet, folder / ADAPTER_WEIGHTS)
        state = torch.load(folder / OPTIMIZER, weights_only=True, map_location=self.device)
        self.optimizer.load_state_dict(state)
        self.step = int(json.loads((folder / STATE).read_text())["step"])

    def samples(self) -> list[bytes]:
        """One PNG per sample prompt, drawn with the adapter as it is now."""
        import torch

        sample = self.config.sample
        self.pipe.unet.eval()
        pngs = []
        with torch.no_grad():
            for prompt in sample.prompts:
                generator = torch.Generator("cpu").manual_seed(sample.seed)
                image = self.pipe(
                    prompt,
                    num_inference_steps=sample.steps,
                    guidance_scale=sample.guidance_scale,
                    generator=generator,
                ).images[0]
                pngs.append(to_png(image))
        return pngs

    def weights_bytes(self) -> int:
        """Bytes of the pipeline's weights."""
        parts = (self.pipe.unet, self.pipe.vae, self.pipe.text_encoder)
        return sum(p.numel() * p.element_size() for part in parts for p in part.parameters())
