"""Incoming images: bytes, base64 or ``data:`` URLs, checked and decoded to RGB PIL images.

Every way an image can be wrong (empty, not base64, a remote URL, an unknown or corrupt
format, too many bytes, too many pixels) raises a :mod:`berth.errors` error whose message
says what is wrong and what to send instead. Decoding is CPU work: callers on an event loop
use :func:`decode_image_async`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import re
import warnings

from PIL import Image, UnidentifiedImageError

from berth import errors

MAX_IMAGE_BYTES = 20 * 1024 * 1024
"""Largest encoded image accepted."""
MAX_IMAGE_PIXELS = 40_000_000
"""Most pixels (width x height) accepted: bigger images are refused before they are decoded,
so a small file cannot expand into gigabytes (a decompression bomb)."""
FORMATS = frozenset({"PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF"})
"""Formats Berth decodes."""
SEND = "Send a PNG, JPEG, WebP, GIF, BMP or TIFF image"
_DATA_URL = re.compile(
    r"^data:(?P<type>[\w.+-]+/[\w.+-]+)?(?P<params>(;[^,;]*)*?),(?P<data>.*)$", re.S
)


def image_bytes(value: str) -> bytes:
    """The bytes of an image given as base64 or as a ``data:image/...;base64,`` URL.

    Remote ``http(s)://`` URLs are refused: Berth does not fetch URLs."""
    text = value.strip()
    if not text:
        raise errors.InvalidRequest(f"The image is empty. {SEND} as base64 or a data URL.")
    if re.match(r"^https?://", text, re.I):
        raise errors.InvalidRequest(
            "Berth does not fetch images from URLs. Send the image inline as a data URL "
            "(data:image/png;base64,...)."
        )
    if text.startswith("data:"):
        text = _data_url_payload(text)
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise errors.InvalidRequest(
            "The image is not valid base64. Send the file's bytes base64-encoded, or a data "
            "URL like data:image/png;base64,...."
        ) from None
    if not data:
        raise errors.InvalidRequest(f"The image is empty. {SEND}.")
    return data


def _data_url_payload(url: str) -> str:
    match = _DATA_URL.match(url)
    if match is None or ";base64" not in match.group("params").lower():
        raise errors.InvalidRequest(
            "The data URL is not a base64 image. Use the form data:image/png;base64,...."
        )
    media_type = (match.group("type") or "").lower()
    if not media_type.startswith("image/"):
        raise errors.UnsupportedMedia(
            f"The data URL holds '{media_type or 'no media type'}', not an image. {SEND}."
        )
    return match.group("data")


def decode_image(
    data: bytes, *, max_bytes: int = MAX_IMAGE_BYTES, max_pixels: int = MAX_IMAGE_PIXELS
) -> Image.Image:
    """``data`` decoded and fully loaded as an RGB image (transparency over white)."""
    if not data:
        raise errors.InvalidRequest(f"The image is empty (0 bytes). {SEND}.")
    if len(data) > max_bytes:
        raise errors.MediaTooLarge(
            f"The image is {len(data)} bytes; Berth accepts at most {max_bytes}. Send a "
            "smaller or more compressed image."
        )
    image = _open(data, max_pixels)
    try:
        image.load()
    except (OSError, SyntaxError, ValueError) as exc:
        raise errors.UnsupportedMedia(
            f"The {image.format} image is corrupt or truncated ({exc}). {SEND} that opens in "
            "an image viewer."
        ) from exc
    return _rgb(image)


def _open(data: bytes, max_pixels: int) -> Image.Image:
    """The image opened lazily (header only), with its format and size checked."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=sorted(FORMATS))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise errors.MediaTooLarge(
            f"The image has too many pixels ({exc}). Send at most {max_pixels} pixels."
        ) from None
    except UnidentifiedImageError:
        raise errors.UnsupportedMedia(
            f"The file is not an image Berth can read (or it is corrupt). {SEND}."
        ) from None
    width, height = image.size
    if width < 1 or height < 1:
        raise errors.InvalidRequest(f"The image is {width}x{height} pixels: it is empty.")
    if width * height > max_pixels:
        raise errors.MediaTooLarge(
            f"The image is {width}x{height} = {width * height} pixels; Berth accepts at most "
            f"{max_pixels}. Scale it down and send it again."
        )
    return image


def _rgb(image: Image.Image) -> Image.Image:
    if image.mode == "RGB":
        return image
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        background = Image.new("RGB", image.size, (255, 255, 255))
        background.paste(image.convert("RGBA"), mask=image.convert("RGBA").getchannel("A"))
        return background
    return image.convert("RGB")


def decode_base64_image(value: str, *, max_bytes: int = MAX_IMAGE_BYTES) -> Image.Image:
    """An image given as base64 or a data URL, decoded (see :func:`image_bytes`)."""
    return decode_image(image_bytes(value), max_bytes=max_bytes)


async def decode_image_async(data: bytes, *, max_bytes: int = MAX_IMAGE_BYTES) -> Image.Image:
    """:func:`decode_image` on a worker thread, for callers on an event loop."""
    return await asyncio.to_thread(decode_image, data, max_bytes=max_bytes)


def png_bytes(image: Image.Image) -> bytes:
    """``image`` encoded as PNG."""
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


async def checked_image(value: str, *, max_bytes: int = MAX_IMAGE_BYTES) -> bytes:
    """The bytes of an image given as base64 or a data URL, checked on a worker thread to
    decode (see :func:`image_bytes` and :func:`decode_image`)."""
    data = image_bytes(value)
    await decode_image_async(data, max_bytes=max_bytes)
    return data
