"""The tiny GGUF fixture: the tiny Llama converted with the ``gguf`` package loads in llama.cpp
(through llama-cpp-python), keeps its tokenizer and chat template, and computes what the
transformers model computes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.tiny.causal_lm import CHAT_TEMPLATE, CONTEXT, session_causal_lm
from tests.tiny.gguf import session_gguf

pytestmark = pytest.mark.integration
llama_cpp = pytest.importorskip("llama_cpp")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return session_causal_lm(tmp_path_factory)


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    model = llama_cpp.Llama(str(session_gguf(tmp_path_factory)), n_ctx=CONTEXT, verbose=False)
    yield model
    model.close()


def test_the_gguf_is_built_once_per_session(tmp_path_factory: pytest.TempPathFactory) -> None:
    path = session_gguf(tmp_path_factory)
    made = path.stat().st_mtime_ns
    assert session_gguf(tmp_path_factory) == path and path.stat().st_mtime_ns == made
    assert path.read_bytes()[:4] == b"GGUF"


def test_it_keeps_the_chat_template_and_the_special_tokens(loaded: Any) -> None:
    assert loaded.metadata["tokenizer.chat_template"] == CHAT_TEMPLATE
    assert loaded.metadata["general.architecture"] == "llama"
    assert loaded.metadata["llama.context_length"] == str(CONTEXT)
    assert loaded.detokenize([loaded.token_bos()], special=True) == b"<|bos|>"
    assert loaded.detokenize([loaded.token_eos()], special=True) == b"<|eos|>"


def test_it_tokenizes_as_the_trained_tokenizer_does(loaded: Any, model_dir: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    for text in ["Hello world", "Café, naïve, façade 🚢", "<|user|>Hi<|eos|><|assistant|>"]:
        ids = loaded.tokenize(text.encode(), add_bos=False, special=True)
        assert ids == tokenizer(text, add_special_tokens=False)["input_ids"]


def test_greedy_decoding_makes_the_tokens_transformers_makes(loaded: Any, model_dir: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(model_dir, local_files_only=True)
    for prompt in ["Hello world", "The quick brown fox"]:
        ids = tokenizer(prompt, return_tensors="pt")
        with torch.inference_mode():
            made = model.generate(**ids, max_new_tokens=10, do_sample=False)
        expected = made[0, ids["input_ids"].shape[1] :].tolist()
        loaded.reset()
        tokens = []
        for token in loaded.generate(ids["input_ids"][0].tolist(), temp=0.0, reset=True):
            tokens.append(token)
            if len(tokens) == len(expected):
                break
        assert tokens == expected
