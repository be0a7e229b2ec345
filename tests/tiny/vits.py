"""A tiny VITS text-to-speech model (real architecture, random seeded weights) for tests."""

from __future__ import annotations

import json
from pathlib import Path

SAMPLE_RATE = 16_000
CHARACTERS = list(" abcdefghijklmnopqrstuvwxyz'")
"""The vocabulary after the pad token (id 0), as MMS-TTS tokenizers spell theirs."""


def build_tiny_vits(directory: Path, *, speakers: int = 1, seed: int = 0) -> Path:
    """Write a VitsModel and its VitsTokenizer (a few hundred KB) into ``directory``."""
    import torch
    from transformers import VitsConfig, VitsModel, VitsTokenizer

    directory.mkdir(parents=True, exist_ok=True)
    vocab = {"<pad>": 0, **{char: i + 1 for i, char in enumerate(CHARACTERS)}}
    vocab_file = directory / "vocab.json"
    vocab_file.write_text(json.dumps(vocab))
    tokenizer = VitsTokenizer(
        str(vocab_file), pad_token="<pad>", unk_token="<pad>", phonemize=False, add_blank=True
    )
    tokenizer.save_pretrained(directory)
    config = VitsConfig(
        vocab_size=len(vocab),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        window_size=2,
        ffn_dim=32,
        flow_size=16,
        spectrogram_bins=33,
        upsample_initial_channel=32,
        upsample_rates=[4, 4],
        upsample_kernel_sizes=[8, 8],
        resblock_kernel_sizes=[3],
        resblock_dilation_sizes=[[1, 3]],
        use_stochastic_duration_prediction=False,
        duration_predictor_filter_channels=16,
        prior_encoder_num_flows=1,
        prior_encoder_num_wavenet_layers=1,
        posterior_encoder_num_wavenet_layers=1,
        num_speakers=speakers,
        speaker_embedding_size=8 if speakers > 1 else 0,
        sampling_rate=SAMPLE_RATE,
    )
    torch.manual_seed(seed)
    VitsModel(config).eval().save_pretrained(directory)
    return directory
