"""A tiny Stable Diffusion pipeline: a real UNet, VAE, CLIP text encoder and tokenizer built
from small configs with seeded random weights. It draws noise-like 64x64 images in a fraction
of a second per step on a CPU, which is all the tests need: the files, the loading, the steps,
the seeds and the PNGs are those of a real model."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

SIDE = 64
"""The image side the pipeline draws by default (latent 16 x VAE factor 4)."""
CONTEXT = 16
"""Tokens the text encoder reads."""


def _byte_symbols() -> list[str]:
    """The 256 printable stand-ins that byte-level BPE uses for the bytes 0..255."""
    printable = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAC + 1), *range(0xAE, 0xFF + 1)]
    extra = 0
    symbols = {}
    for byte in range(256):
        if byte in printable:
            symbols[byte] = chr(byte)
        else:
            symbols[byte] = chr(256 + extra)
            extra += 1
    return [symbols[byte] for byte in range(256)]


def write_tokenizer(directory: Path) -> Any:
    """A CLIP tokenizer over single bytes plus a few merges, saved into ``directory``."""
    from transformers import CLIPTokenizer

    symbols = _byte_symbols()
    merges = [("c", "a"), ("ca", "t</w>"), ("d", "o"), ("do", "g</w>")]
    tokens = [*symbols, *(s + "</w>" for s in symbols), *("".join(pair) for pair in merges)]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    vocab = {token: index for index, token in enumerate(dict.fromkeys(tokens))}
    (directory / "vocab.json").write_text(json.dumps(vocab))
    lines = ["#version: 0.2", *(f"{a} {b}" for a, b in merges)]
    (directory / "merges.txt").write_text("\n".join(lines) + "\n")
    return CLIPTokenizer(
        str(directory / "vocab.json"),
        str(directory / "merges.txt"),
        model_max_length=CONTEXT,
        pad_token="<|endoftext|>",
    )


def _parts(tokenizer: Any) -> dict[str, Any]:
    import diffusers
    import torch
    from transformers import CLIPTextConfig, CLIPTextModel

    unet_class: Any = diffusers.UNet2DConditionModel
    vae_class: Any = diffusers.AutoencoderKL
    scheduler_class: Any = diffusers.DDIMScheduler

    torch.manual_seed(0)
    unet = unet_class(
        block_out_channels=(16, 32),
        layers_per_block=1,
        sample_size=SIDE // 4,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=(2, 4),
        norm_num_groups=8,
    )
    vae = vae_class(
        block_out_channels=(8, 16, 16),
        layers_per_block=1,
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3,
        latent_channels=4,
        norm_num_groups=8,
        sample_size=SIDE,
    )
    text = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(tokenizer),
            hidden_size=32,
            intermediate_size=37,
            num_hidden_layers=2,
            num_attention_heads=4,
            max_position_embeddings=CONTEXT,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    )
    scheduler = scheduler_class(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )
    return {"unet": unet, "vae": vae, "text_encoder": text, "scheduler": scheduler}


def build_tiny_diffusion(directory: Path) -> Path:
    """Write a tiny Stable Diffusion pipeline into ``directory`` (created) and return it."""
    import diffusers

    pipeline_class: Any = diffusers.StableDiffusionPipeline
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as words:
        tokenizer = write_tokenizer(Path(words))
    pipeline = pipeline_class(
        **_parts(tokenizer),
        tokenizer=tokenizer,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipeline.save_pretrained(directory)
    return directory
