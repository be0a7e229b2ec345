"""Images for tests: text rendered in black on white, and broken files."""

from __future__ import annotations

import io
from collections.abc import Sequence

from PIL import Image, ImageDraw, ImageFont

LINE_HEIGHT = 90
FONT_SIZE = 48


def render_lines(lines: Sequence[str], width: int = 720, fmt: str = "PNG") -> bytes:
    """``lines`` drawn one under the other in large clear type (Pillow's own font)."""
    image = Image.new("RGB", (width, LINE_HEIGHT * len(lines) + 40), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=FONT_SIZE)
    for number, line in enumerate(lines):
        draw.text((30, 30 + number * LINE_HEIGHT), line, fill="black", font=font)
    return encode(image, fmt)


def encode(image: Image.Image, fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


def squeeze(text: str) -> str:
    """``text`` lowercased without spaces (OCR may drop or add spaces between words)."""
    return "".join(text.lower().split())
