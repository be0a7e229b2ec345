"""A small folder of captioned images built in tests: seeded noise-and-shape PNGs with caption
files beside them, some captions missing or empty on purpose."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
from PIL import Image


def write_image(path: Path, seed: int, side: int = 64) -> None:
    """A seeded PNG: a coloured square on a noisy background."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, size=(side, side, 3), dtype=np.uint8)
    corner = side // 4
    pixels[corner : 3 * corner, corner : 3 * corner] = rng.integers(0, 256, size=3)
    Image.fromarray(pixels).save(path)


def build_captioned(folder: Path, captions: Mapping[str, str | None], side: int = 64) -> Path:
    """``folder`` with ``<name>.png`` per entry and ``<name>.txt`` holding its caption (none
    written for a ``None`` caption)."""
    folder.mkdir(parents=True, exist_ok=True)
    for seed, (name, caption) in enumerate(captions.items()):
        write_image(folder / f"{name}.png", seed, side)
        if caption is not None:
            (folder / f"{name}.txt").write_text(caption)
    return folder
