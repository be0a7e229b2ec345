"""A SentenceTransformer's forward pass on ONNX Runtime, for the ``sentence-transformers``
runner on CPU.

On CPU, ONNX Runtime runs a BERT-style encoder about twice as fast as PyTorch does eagerly
(all-MiniLM-L6-v2 on 2 cores: 546-571 sentences/s at batch 32 against 269-303, and 3x at
batch 1; bench/README.md), with the same vectors (within 1e-6). :func:`build` exports the
model's transformer to ONNX in memory when the model loads (about 2 s for MiniLM; nothing is
written to disk) and reproduces the rest of the pipeline with numpy: mean or CLS pooling and
an optional Normalize layer. Any other pipeline (a Dense layer, other pooling, prompts) is
:class:`Unsupported`, and the runner keeps PyTorch.
"""

from __future__ import annotations

import io
import warnings
from typing import Any

import numpy as np

MAX_EXPORT_BYTES = 2**31 - 1
"""Protobuf's limit on one ONNX file held in memory: bigger models keep PyTorch."""


class Unsupported(Exception):
    """The model cannot run on ONNX Runtime here; the message says why."""


class OnnxEncoder:
    """Runs a tokenized batch through the exported transformer and pools it."""

    def __init__(self, session: Any, inputs: list[str], pooling: str, normalize: bool) -> None:
        self._session = session
        self._inputs = inputs
        self._pooling = pooling
        self._normalize = normalize

    def encode(self, features: dict[str, Any]) -> np.ndarray[Any, np.dtype[np.float32]]:
        """One float32 vector per input of a tokenized batch (torch tensors, as the model's
        own tokenizer returns them)."""
        feed = {name: features[name].numpy().astype(np.int64, copy=False) for name in self._inputs}
        (hidden,) = self._session.run(None, feed)
        if self._pooling == "cls":
            vectors = hidden[:, 0]
        else:
            mask = feed["attention_mask"][..., None].astype(np.float32)
            vectors = (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
        if self._normalize:
            norms = np.linalg.norm(vectors, axis=1, keepdims=True)
            vectors = vectors / np.clip(norms, 1e-12, None)
        return np.ascontiguousarray(vectors, dtype=np.float32)


def build(model: Any, threads: int, normalize: bool = False) -> OnnxEncoder:
    """Export ``model`` (a SentenceTransformer on CPU, float32) and open it on ONNX Runtime
    with ``threads`` math threads, its vectors scaled to unit length if it ends in a Normalize
    layer or ``normalize`` asks; :class:`Unsupported` if its pipeline or export cannot."""
    transformer, pooling, ends_normalized = _pipeline(model)
    inputs = [
        name
        for name in ("input_ids", "attention_mask", "token_type_ids")
        if name in model.tokenizer.model_input_names
    ]
    if "input_ids" not in inputs or "attention_mask" not in inputs:
        raise Unsupported(f"its tokenizer gives {model.tokenizer.model_input_names}")
    onnx = _export(transformer.auto_model, model.tokenizer, inputs)
    import onnxruntime  # type: ignore[import-untyped]

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = onnxruntime.InferenceSession(onnx, options, providers=["CPUExecutionProvider"])
    return OnnxEncoder(session, inputs, pooling, normalize or ends_normalized)


def _pipeline(model: Any) -> tuple[Any, str, bool]:
    """The transformer module, the pooling ("mean" or "cls") and whether a Normalize layer
    ends the pipeline."""
    modules = list(model)
    names = [type(module).__name__ for module in modules]
    if names not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
        raise Unsupported(f"its pipeline is {' -> '.join(names)}")
    mode = getattr(modules[1], "pooling_mode", None) or _legacy_mode(modules[1])
    if mode not in ("mean", "cls"):
        raise Unsupported(f"its pooling is {mode!r}")
    if getattr(modules[1], "include_prompt", True) is False:
        raise Unsupported("its pooling leaves the prompt out")
    return modules[0], mode, len(modules) == 3


def _legacy_mode(pooling: Any) -> str:
    """The pooling mode of a sentence-transformers Pooling module that keeps it as flags."""
    config = pooling.get_config_dict() if hasattr(pooling, "get_config_dict") else {}
    chosen = [key for key, on in config.items() if key.startswith("pooling_mode_") and on]
    if chosen == ["pooling_mode_mean_tokens"]:
        return "mean"
    if chosen == ["pooling_mode_cls_token"]:
        return "cls"
    return ",".join(chosen) or "unknown"


def _export(auto_model: Any, tokenizer: Any, inputs: list[str]) -> bytes:
    import torch

    class LastHidden(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, *tensors: Any) -> Any:
            return self.inner(**dict(zip(inputs, tensors, strict=True))).last_hidden_state

    axes = {name: {0: "batch", 1: "tokens"} for name in [*inputs, "last_hidden_state"]}
    buffer = io.BytesIO()
    try:
        texts = ["Berth exports this sentence.", "And this one."]
        sample = tokenizer(texts, padding=True, return_tensors="pt")
        args = tuple(sample[name] for name in inputs)
        with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                LastHidden(auto_model).eval(),
                args,
                buffer,  # type: ignore[arg-type]  # the TorchScript exporter takes a file object
                input_names=inputs,
                output_names=["last_hidden_state"],
                dynamic_axes=axes,
                opset_version=17,
                dynamo=False,
            )
    except Exception as exc:
        raise Unsupported(f"its export to ONNX failed: {type(exc).__name__}: {exc}") from exc
    data = buffer.getvalue()
    if len(data) > MAX_EXPORT_BYTES:
        raise Unsupported("it is too big to export in memory")
    return data
