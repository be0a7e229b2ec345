"""What the run measured with: package versions on each side, wrk, and the Berth commit."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from bench.queuebench.machine import berth_revision

from . import infinity_env
from .loadgen import wrk_version

PROJECT_PACKAGES = (
    "berth",
    "litserve",
    "torch",
    "onnxruntime",
    "onnx",
    "sentence-transformers",
    "transformers",
    "numpy",
    "fastapi",
    "starlette",
    "uvicorn",
    "uvloop",
    "httptools",
)


def _installed(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def versions(infinity_python: Path | None) -> dict[str, Any]:
    """Versions in the project's environment (Berth, LitServe, the in-process baseline) and in
    Infinity's own."""
    return {
        "berth_revision": berth_revision(),
        "project_env": {name: _installed(name) for name in PROJECT_PACKAGES},
        "infinity_env": infinity_env.versions(infinity_python) if infinity_python else None,
        "wrk": wrk_version(),
    }
