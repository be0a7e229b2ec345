"""A tiny Whisper model: the real architecture, a byte-level BPE tokenizer with Whisper's
special tokens, a feature extractor with short windows, and seeded random weights.

It writes what a real Whisper repository holds (config, safetensors weights, generation
config, tokenizer and preprocessor files), so the runner loads it as it would load
openai/whisper-small. It transcribes noise into random text, which is all the tests need.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

WINDOW_SECONDS = 2
"""Seconds of audio the model reads per window (real Whisper: 30)."""
LANGUAGES = ("en", "de", "fr")
MAX_TOKENS = 24
"""The decoder's context: every window's text is at most this many tokens."""


def _byte_symbols() -> list[str]:
    """The 256 printable stand-ins that byte-level BPE uses for the bytes 0..255."""
    printable = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAC + 1), *range(0xAE, 0xFF + 1)]
    symbols, extra = {}, 0
    for byte in range(256):
        if byte in printable:
            symbols[byte] = chr(byte)
        else:
            symbols[byte] = chr(256 + extra)
            extra += 1
    return [symbols[byte] for byte in range(256)]


def special_tokens() -> list[str]:
    """Whisper's special tokens, in their order after the text vocabulary."""
    return [
        "<|endoftext|>",
        "<|startoftranscript|>",
        *(f"<|{code}|>" for code in LANGUAGES),
        "<|translate|>",
        "<|transcribe|>",
        "<|startoflm|>",
        "<|startofprev|>",
        "<|nospeech|>",
        "<|notimestamps|>",
    ]


def write_tokenizer(directory: Path) -> Any:
    """A Whisper tokenizer over single bytes plus a few merges, saved into ``directory``."""
    from transformers import WhisperTokenizer

    symbols = _byte_symbols()
    merges = [("t", "h"), ("th", "e"), ("Ġ", "the")]
    vocab = {token: i for i, token in enumerate([*symbols, *("".join(m) for m in merges)])}
    for token in special_tokens():
        vocab[token] = len(vocab)
    (directory / "vocab.json").write_text(json.dumps(vocab))
    lines = ["#version: 0.2", *(" ".join(pair) for pair in merges)]
    (directory / "merges.txt").write_text("\n".join(lines) + "\n")
    return WhisperTokenizer(
        str(directory / "vocab.json"),
        str(directory / "merges.txt"),
        unk_token="<|endoftext|>",
        bos_token="<|endoftext|>",
        eos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=special_tokens()[1:],
        predict_timestamps=False,
    )


def _generation_config(tokenizer: Any) -> Any:
    from transformers import GenerationConfig

    ids = tokenizer.convert_tokens_to_ids
    eot = ids("<|endoftext|>")
    return GenerationConfig(
        decoder_start_token_id=ids("<|startoftranscript|>"),
        bos_token_id=eot,
        eos_token_id=eot,
        pad_token_id=eot,
        max_length=MAX_TOKENS,
        no_timestamps_token_id=ids("<|notimestamps|>"),
        lang_to_id={f"<|{code}|>": ids(f"<|{code}|>") for code in LANGUAGES},
        task_to_id={"transcribe": ids("<|transcribe|>"), "translate": ids("<|translate|>")},
        is_multilingual=True,
        begin_suppress_tokens=[],
        suppress_tokens=[],
        forced_decoder_ids=None,
    )


def write_whisper(directory: Path, seed: int = 0) -> Path:
    """Write a tiny Whisper model into ``directory`` (created) and return it."""
    import torch
    from transformers import (
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperProcessor,
    )

    directory.mkdir(parents=True, exist_ok=True)
    tokenizer = write_tokenizer(directory)
    extractor = WhisperFeatureExtractor(feature_size=80, chunk_length=WINDOW_SECONDS)
    ids = tokenizer.convert_tokens_to_ids
    eot = ids("<|endoftext|>")
    config = WhisperConfig(
        vocab_size=len(tokenizer),
        num_mel_bins=80,
        d_model=16,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        max_source_positions=extractor.nb_max_frames // 2,
        max_target_positions=MAX_TOKENS,
        decoder_start_token_id=ids("<|startoftranscript|>"),
        bos_token_id=eot,
        eos_token_id=eot,
        pad_token_id=eot,
        begin_suppress_tokens=None,
        suppress_tokens=None,
        init_std=0.5,
    )
    torch.manual_seed(seed)
    model = WhisperForConditionalGeneration(config)
    model.generation_config = _generation_config(tokenizer)
    model.save_pretrained(directory, safe_serialization=True)
    WhisperProcessor(feature_extractor=extractor, tokenizer=tokenizer).save_pretrained(directory)
    return directory
