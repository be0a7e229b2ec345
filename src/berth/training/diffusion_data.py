"""A folder of captioned images, as diffusion training suites lay them out: ``cat.png`` with
its caption in ``cat.txt`` beside it (the caption extension is configurable).

Both the ``eval-dataset`` kind and the diffusion LoRA trainer read datasets through this: the
images in name order, each with its caption (``None`` when the caption file is missing), and a
seeded choice of a fraction of them.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path

from berth import errors

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp"})


@dataclass(frozen=True)
class CaptionedImage:
    """One image of the folder and its caption (None: no caption file)."""

    path: Path
    caption: str | None

    @property
    def name(self) -> str:
        return self.path.name


def caption_path(image: Path, caption_ext: str) -> Path:
    """Where ``image``'s caption lives: same stem, the caption extension."""
    return image.with_suffix("." + caption_ext.lstrip("."))


def read_folder(folder: Path, caption_ext: str = "txt") -> list[CaptionedImage]:
    """Every image directly in ``folder``, in name order, with its caption; InvalidJobInput if
    the folder is missing or holds no image."""
    if not folder.is_dir():
        state = "is not a folder" if folder.exists() else "does not exist"
        raise errors.InvalidJobInput(
            f"The dataset folder {folder} {state}. Give a folder of images with their "
            f"captions in .{caption_ext} files beside them."
        )
    images = sorted(
        (p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES),
        key=lambda p: p.name,
    )
    if not images:
        listed = ", ".join(sorted(IMAGE_SUFFIXES))
        raise errors.InvalidJobInput(
            f"The dataset folder {folder} holds no images ({listed}). Put the images there."
        )
    return [CaptionedImage(path, _caption(caption_path(path, caption_ext))) for path in images]


def _caption(path: Path) -> str | None:
    if not path.is_file():
        return None
    return path.read_text(encoding="utf-8", errors="replace").strip()


def choose(
    images: list[CaptionedImage], fraction: float, limit: int | None, seed: int
) -> list[CaptionedImage]:
    """A seeded ``fraction`` of ``images`` (at least one), at most ``limit``, in name order."""
    count = max(1, math.ceil(len(images) * fraction)) if fraction < 1 else len(images)
    chosen = random.Random(seed).sample(range(len(images)), count) if count < len(images) else []
    picked = [images[i] for i in sorted(chosen)] if chosen else list(images)
    return picked[:limit] if limit is not None else picked
