"""The tiny causal LM (:mod:`tests.tiny.causal_lm`) as one GGUF file, for the llama.cpp runner.

``build_gguf(model_dir, path)`` converts the tiny Llama's safetensors and its test-trained
byte-level BPE tokenizer with the ``gguf`` package: the hyperparameters, every tensor (float32,
so llama.cpp computes what transformers computes), the vocabulary with its token types and
merges, the special tokens and the chat template (``tokenizer.chat_template``).
``session_gguf`` builds it once per test session.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.tiny.causal_lm import session_causal_lm

NAME = "tiny-llama.gguf"


def build_gguf(model_dir: Path, path: Path) -> Path:
    """Write the GGUF form of the tiny model in ``model_dir`` to ``path`` (once)."""
    if path.is_file():
        return path
    import gguf

    config = json.loads((model_dir / "config.json").read_text())
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    writer = gguf.GGUFWriter(partial, "llama")
    _add_hyperparameters(writer, config)
    _add_tokenizer(writer, model_dir)
    for name, array in _tensors(model_dir, config):
        writer.add_tensor(name, array)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    partial.rename(path)
    return path


def _add_hyperparameters(writer: Any, config: dict[str, Any]) -> None:
    import gguf

    heads = config["num_attention_heads"]
    writer.add_name("tiny-llama")
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_vocab_size(config["vocab_size"])
    writer.add_context_length(config["max_position_embeddings"])
    writer.add_embedding_length(config["hidden_size"])
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_head_count(heads)
    writer.add_head_count_kv(config["num_key_value_heads"])
    writer.add_rope_dimension_count(config["hidden_size"] // heads)
    writer.add_rope_freq_base(float(config.get("rope_theta") or 10000.0))
    writer.add_layer_norm_rms_eps(float(config["rms_norm_eps"]))


def _add_tokenizer(writer: Any, model_dir: Path) -> None:
    """The byte-level BPE vocabulary in id order, its merges, the special tokens as control
    tokens, and the chat template."""
    import gguf

    data = json.loads((model_dir / "tokenizer.json").read_text())
    settings = json.loads((model_dir / "tokenizer_config.json").read_text())
    vocab: dict[str, int] = dict(data["model"]["vocab"])
    special = {token["content"]: token["id"] for token in data["added_tokens"]}
    vocab.update(special)
    tokens = sorted(vocab, key=vocab.__getitem__)
    assert [vocab[token] for token in tokens] == list(range(len(tokens)))
    merges = [m if isinstance(m, str) else " ".join(m) for m in data["model"]["merges"]]
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("gpt-2")
    writer.add_token_list(tokens)
    writer.add_token_types(
        [gguf.TokenType.CONTROL if t in special else gguf.TokenType.NORMAL for t in tokens]
    )
    writer.add_token_merges(merges)
    writer.add_bos_token_id(special[settings["bos_token"]])
    writer.add_eos_token_id(special[settings["eos_token"]])
    writer.add_pad_token_id(special[settings["pad_token"]])
    writer.add_add_bos_token(False)
    template = model_dir / "chat_template.jinja"
    writer.add_chat_template(
        template.read_text() if template.is_file() else settings["chat_template"]
    )


def _tensors(model_dir: Path, config: dict[str, Any]) -> list[tuple[str, Any]]:
    """Every weight under its GGUF name, as float32 numpy arrays. The query and key
    projections are permuted from the rotate-half layout transformers uses to the interleaved
    one llama.cpp's Llama expects."""
    from safetensors.numpy import load_file

    weights = load_file(model_dir / "model.safetensors")
    heads, kv_heads = config["num_attention_heads"], config["num_key_value_heads"]
    named = [
        ("token_embd.weight", weights["model.embed_tokens.weight"]),
        ("output_norm.weight", weights["model.norm.weight"]),
        ("output.weight", weights["lm_head.weight"]),
    ]
    parts = {
        "attn_norm": "input_layernorm",
        "attn_q": "self_attn.q_proj",
        "attn_k": "self_attn.k_proj",
        "attn_v": "self_attn.v_proj",
        "attn_output": "self_attn.o_proj",
        "ffn_norm": "post_attention_layernorm",
        "ffn_gate": "mlp.gate_proj",
        "ffn_up": "mlp.up_proj",
        "ffn_down": "mlp.down_proj",
    }
    for layer in range(config["num_hidden_layers"]):
        for short, long in parts.items():
            array = weights[f"model.layers.{layer}.{long}.weight"]
            if short == "attn_q":
                array = _interleaved(array, heads)
            elif short == "attn_k":
                array = _interleaved(array, kv_heads)
            named.append((f"blk.{layer}.{short}.weight", array))
    return [(name, array.astype("float32")) for name, array in named]


def _interleaved(weight: Any, heads: int) -> Any:
    rows = weight.shape[0]
    return (
        weight.reshape(heads, 2, rows // heads // 2, *weight.shape[1:])
        .swapaxes(1, 2)
        .reshape(weight.shape)
    )


def session_gguf(factory: pytest.TempPathFactory) -> Path:
    """The tiny model as GGUF, built once per test session beside the tiny model's folder."""
    model_dir = session_causal_lm(factory)
    return build_gguf(model_dir, factory.getbasetemp() / "tiny-gguf" / NAME)


LONG_CONTEXT = 2048
"""The context of the tiny model that tool prompts fit in."""


def session_long_gguf(factory: pytest.TempPathFactory) -> Path:
    """The tiny model with a context of :data:`LONG_CONTEXT` tokens as GGUF, built once per
    test session (the same weights as the transformers tests' ``tiny-causal-lm-2k``)."""
    from tests.tiny.causal_lm import build_causal_lm

    base = factory.getbasetemp()
    model_dir = build_causal_lm(base / "tiny-causal-lm-2k", context=LONG_CONTEXT)
    return build_gguf(model_dir, base / "tiny-gguf-2k" / NAME)
