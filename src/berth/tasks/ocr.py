"""The ``ocr`` task: an image in, its lines of text with their boxes out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from berth.tasks.task import ModelTask, Task

Point = tuple[float, float]


@dataclass(frozen=True)
class OcrRequest:
    """One image: encoded bytes (PNG, JPEG, ...) or an RGB ``uint8`` array (height, width, 3)."""

    image: bytes | np.ndarray[Any, Any]


@dataclass(frozen=True)
class OcrLine:
    """One line of text: what it says, how sure the model is (0-1), and its corners
    (top-left, top-right, bottom-right, bottom-left) in pixels."""

    text: str
    confidence: float
    box: tuple[Point, Point, Point, Point]


@dataclass(frozen=True)
class OcrResult:
    """The lines of one image in reading order, and the image's size."""

    lines: tuple[OcrLine, ...]
    width: int
    height: int

    @property
    def text(self) -> str:
        """The lines' texts, one per line."""
        return "\n".join(line.text for line in self.lines)


OCR = ModelTask("text lines", frozenset({Task.OCR}), OcrResult)
