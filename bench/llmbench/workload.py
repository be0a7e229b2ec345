"""The benchmark's model (a random Llama, bigger than the tests' so the model dominates) and
its fixed prompts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tests.tiny.causal_lm import build_causal_lm

PROMPTS = [
    "The quick brown fox jumps over the lazy dog.",
    "Berth serves models on your own machines.",
    "A small model answers questions about the weather.",
    "Hello world! How are you today?",
    "Numbers like 12, 345 and 6789 appear in text.",
    "Café, naïve, façade, jalapeño: words with accents.",
    "The harbour is calm and the sea is grey this morning.",
    "One process per model, and a memory budget per device.",
]


@dataclass(frozen=True)
class Workload:
    model_dir: Path
    max_tokens: int
    hidden: int
    layers: int


def build(directory: Path, max_tokens: int, hidden: int = 256, layers: int = 4) -> Workload:
    """Write the model (once per folder) and describe the work."""
    path = build_causal_lm(directory, hidden=hidden, layers=layers, context=1024, seed=1)
    return Workload(path, max_tokens, hidden, layers)
