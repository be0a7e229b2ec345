"""Tiny LoRA adapters on the tiny causal LM: real PEFT adapters with random (seeded) weights on
every attention projection, saved as training saves them, so each one changes what the base
says.

``build_adapter(base, directory, seed)`` writes one once per directory and returns the sha256
of its weights file.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from berth.training.checkpoints import ADAPTER_WEIGHTS, file_sha256

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj"]


def build_adapter(base: Path, directory: Path, seed: int) -> str:
    """Write a LoRA adapter for the model in ``base`` into ``directory`` (once); its sha256."""
    weights = directory / ADAPTER_WEIGHTS
    if not weights.is_file():
        import torch
        from peft import LoraConfig, get_peft_model
        from transformers import AutoModelForCausalLM

        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_pretrained(base, local_files_only=True)
        config = LoraConfig(
            r=4,
            lora_alpha=8,
            target_modules=TARGETS,
            init_lora_weights=False,
            task_type="CAUSAL_LM",
        )
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "`is_gradient_checkpointing`", FutureWarning)
            adapted = get_peft_model(model, config)
            adapted.save_pretrained(directory)
    return file_sha256(weights)
