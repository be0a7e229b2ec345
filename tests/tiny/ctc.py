"""A tiny wav2vec2 CTC model: the real architecture with two small convolutions and one
transformer layer, a character tokenizer and feature extractor, and seeded random weights.
It writes what a real repository holds, so the runner loads it as it would a real one."""

from __future__ import annotations

import json
import string
from pathlib import Path


def write_ctc(directory: Path, seed: int = 0) -> Path:
    """Write a tiny Wav2Vec2ForCTC model into ``directory`` (created) and return it."""
    import torch
    from transformers import (
        Wav2Vec2Config,
        Wav2Vec2CTCTokenizer,
        Wav2Vec2FeatureExtractor,
        Wav2Vec2ForCTC,
        Wav2Vec2Processor,
    )

    directory.mkdir(parents=True, exist_ok=True)
    symbols = ["<pad>", "<s>", "</s>", "<unk>", "|", *string.ascii_lowercase, "'"]
    (directory / "vocab.json").write_text(json.dumps({s: i for i, s in enumerate(symbols)}))
    tokenizer = Wav2Vec2CTCTokenizer(str(directory / "vocab.json"), word_delimiter_token="|")
    extractor = Wav2Vec2FeatureExtractor(
        feature_size=1, sampling_rate=16_000, padding_value=0.0, return_attention_mask=False
    )
    config = Wav2Vec2Config(
        vocab_size=len(symbols),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        conv_dim=(16, 16),
        conv_stride=(5, 64),
        conv_kernel=(10, 64),
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
        pad_token_id=0,
        initializer_range=0.5,
    )
    torch.manual_seed(seed)
    Wav2Vec2ForCTC(config).save_pretrained(directory, safe_serialization=True)
    Wav2Vec2Processor(feature_extractor=extractor, tokenizer=tokenizer).save_pretrained(directory)
    return directory
