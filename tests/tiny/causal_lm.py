"""A tiny causal language model: a real Llama architecture with random (seeded) weights and a
byte-level BPE tokenizer trained here, with a chat template, saved like a hub model.

``build_causal_lm(directory)`` writes it once per directory and returns the directory; loading
it with ``AutoTokenizer`` and ``AutoModelForCausalLM`` works offline.
"""

from __future__ import annotations

from pathlib import Path

import pytest

BOS, EOS, PAD = "<|bos|>", "<|eos|>", "<|pad|>"
ROLES = ("<|system|>", "<|user|>", "<|assistant|>")
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}<|{{ message['role'] }}|>"
    "{{ message['content'] }}{{ eos_token }}{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "Berth serves models on your own machines, one process per model.",
    "A small model answers questions about the weather, the sea and the harbour.",
    "Café, naïve, façade, jalapeño: words with accents take more than one byte.",
    "Numbers like 12, 345 and 6789 appear in text; so do emoji like 🚢 and ⚓.",
    "Hello world! How are you today? I am fine, thank you.",
]
CONTEXT = 128
"""The model's max_position_embeddings: prompts past it must be refused."""


def build_tokenizer(vocab_size: int = 320) -> object:
    """A byte-level BPE tokenizer with bos/eos/pad and role tokens, and a chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[PAD, BOS, EOS, *ROLES],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(CORPUS * 4, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        additional_special_tokens=list(ROLES),
        chat_template=CHAT_TEMPLATE,
        model_max_length=CONTEXT,
    )


def build_causal_lm(
    directory: Path,
    *,
    hidden: int = 64,
    layers: int = 2,
    context: int = CONTEXT,
    seed: int = 0,
) -> Path:
    """Write the tiny model's files into ``directory`` (once) and return it."""
    if (directory / "config.json").is_file():
        return directory
    import torch
    import transformers
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    transformers.utils.logging.disable_progress_bar()

    tokenizer = build_tokenizer()
    ids = tokenizer.convert_tokens_to_ids([BOS, EOS, PAD])  # type: ignore[attr-defined]
    config = LlamaConfig(
        vocab_size=len(tokenizer),  # type: ignore[arg-type]
        hidden_size=hidden,
        intermediate_size=hidden * 2,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=context,
        bos_token_id=ids[0],
        eos_token_id=ids[1],
        pad_token_id=ids[2],
        initializer_range=0.2,
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config).eval()
    model.generation_config = GenerationConfig(
        bos_token_id=ids[0], eos_token_id=ids[1], pad_token_id=ids[2]
    )
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)  # type: ignore[attr-defined]
    return directory


def session_causal_lm(factory: pytest.TempPathFactory) -> Path:
    """The tiny model, built once per test session (in the session's base temp folder)."""
    return build_causal_lm(factory.getbasetemp() / "tiny-causal-lm")
