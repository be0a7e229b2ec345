"""A diffusion LoRA adapter file: the PEFT LoRA weights of a diffusers UNet in
``adapter_model.safetensors``, with the network that shapes them (rank, alpha, target modules)
in the file's metadata, so the file alone (and its sha256) says how to put it back.

The trainer puts the LoRA on its UNet with :func:`add_lora` and writes it with
:func:`save_adapter`; the diffusers runner puts a saved one on its pipeline's UNet with
:func:`load_adapter`: the same PEFT layers, so a served model draws what the training's sample
images drew.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pydantic

from berth import errors
from berth.training.diffusion_config import Network

NETWORK_KEY = "berth.network"
"""The metadata key that holds the network's JSON."""


def add_lora(unet: Any, network: Network) -> None:
    """Put a fresh LoRA of ``network``'s shape on the UNet's target modules (PEFT)."""
    from peft import LoraConfig

    unet.add_adapter(
        LoraConfig(
            r=network.rank,
            lora_alpha=network.alpha,
            init_lora_weights="gaussian",
            target_modules=network.target_modules,
        )
    )


def adapter_state(unet: Any) -> dict[str, Any]:
    """The UNet's LoRA weights, by name."""
    from peft import get_peft_model_state_dict

    state: dict[str, Any] = get_peft_model_state_dict(unet)
    return {name: tensor.detach().contiguous() for name, tensor in state.items()}


def save_adapter(unet: Any, network: Network, path: Path) -> None:
    """Write the UNet's LoRA weights and ``network`` to ``path``."""
    from safetensors.torch import save_file

    save_file(adapter_state(unet), str(path), metadata={NETWORK_KEY: network.model_dump_json()})


def read_network(path: Path) -> Network:
    """The network recorded in an adapter file; ModelLoadFailed if it has none."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as weights:
            metadata = weights.metadata() or {}
    except (OSError, ValueError) as exc:
        raise errors.ModelLoadFailed(f"{path} is not a safetensors adapter file ({exc}).") from exc
    if NETWORK_KEY not in metadata:
        raise errors.ModelLoadFailed(
            f"{path} does not record its LoRA network (rank, alpha, target modules): it was "
            "not written by Berth's diffusion trainer. Train it again with `berth run`."
        )
    try:
        return Network.model_validate(json.loads(metadata[NETWORK_KEY]))
    except (json.JSONDecodeError, pydantic.ValidationError) as exc:
        raise errors.ModelLoadFailed(f"{path} records a LoRA network Berth cannot read.") from exc


def restore_weights(unet: Any, path: Path) -> None:
    """Load the adapter weights in ``path`` into the UNet's LoRA (which has their shape)."""
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    loaded = set_peft_model_state_dict(unet, load_file(str(path)))
    unexpected = list(getattr(loaded, "unexpected_keys", None) or [])
    if unexpected:
        raise errors.ModelLoadFailed(
            f"{path} holds weights this UNet has no place for (such as {unexpected[0]}): it "
            "was trained on another base model."
        )


def load_adapter(unet: Any, path: Path) -> None:
    """Put the adapter saved in ``path`` on the UNet, as the trainer had it."""
    add_lora(unet, read_network(path))
    try:
        restore_weights(unet, path)
    except RuntimeError as exc:
        raise errors.ModelLoadFailed(
            f"{path} does not fit this UNet ({exc}): it was trained on another base model."
        ) from exc
