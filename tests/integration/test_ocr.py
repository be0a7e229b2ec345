"""OCR with the ``rapidocr`` catalog entry (the ONNX models its package ships) in a model
process, and the checks every incoming image goes through.

One pool (one model process) serves the module: loading the models takes a second or two.
"""

from __future__ import annotations

import asyncio
import base64
import io
import struct
import zlib
from collections.abc import AsyncIterator

import numpy as np
import pytest
import pytest_asyncio
from PIL import Image

from berth import errors
from berth.media import images
from berth.models.cache import ModelCache
from berth.models.catalog import Catalog
from berth.plugins import discover
from berth.pool.pool import ModelPool
from berth.settings import Settings
from berth.tasks.ocr import OcrRequest, OcrResult
from tests.images import encode, render_lines, squeeze

pytestmark = [pytest.mark.integration, pytest.mark.slow]
on_module_loop = pytest.mark.asyncio(loop_scope="module")
ALIAS = "rapidocr"
LINES = ["Berth reads text", "Harbor seven 42"]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def pool(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ModelPool]:
    settings = Settings(home=tmp_path_factory.mktemp("home"))
    runners = discover().runners
    catalog, cache = Catalog.load(settings, runners), ModelCache(settings)
    spec = catalog.get(ALIAS)
    assert spec.options.transport == "process" and spec.task == "ocr"
    async with ModelPool(settings, catalog.get, cache.path_for, runners) as opened:
        yield opened


async def read(pool: ModelPool, data: bytes) -> OcrResult:
    [result] = await pool.run(ALIAS, [OcrRequest(data)])
    assert isinstance(result, OcrResult)
    return result


@on_module_loop
async def test_the_rendered_words_come_back_in_reading_order(pool: ModelPool) -> None:
    data = render_lines(LINES)
    result = await read(pool, data)
    width, height = Image.open(io.BytesIO(data)).size
    assert (result.width, result.height) == (width, height)
    assert [squeeze(line.text) for line in result.lines] == [squeeze(line) for line in LINES]
    assert squeeze(result.text) == squeeze("".join(LINES))
    for line in result.lines:
        assert 0.8 < line.confidence <= 1.0
        assert len(line.box) == 4
        assert all(0 <= x <= width and 0 <= y <= height for x, y in line.box)
    first, second = result.lines
    assert max(y for _, y in first.box) <= min(y for _, y in second.box) + 5
    [(left, _), (right, _), *_] = first.box
    assert 10 < left < right < width


@on_module_loop
async def test_a_jpeg_an_array_and_a_blank_page(pool: ModelPool) -> None:
    jpeg = render_lines(["Quiet water"], fmt="JPEG")
    array = np.asarray(Image.open(io.BytesIO(render_lines(["Quiet water"]))).convert("RGB"))
    blank = encode(Image.new("RGB", (200, 100), "white"))
    found = await pool.run(ALIAS, [OcrRequest(jpeg), OcrRequest(array), OcrRequest(blank)])
    assert [squeeze(r.text) for r in found] == ["quietwater", "quietwater", ""]
    assert found[2].lines == ()


@on_module_loop
async def test_a_bad_image_fails_alone_and_clearly(pool: ModelPool) -> None:
    good = asyncio.ensure_future(read(pool, render_lines(["Steady"])))
    with pytest.raises(errors.UnsupportedMedia, match="not an image Berth can read"):
        await pool.run(ALIAS, [OcrRequest(b"this is not an image")])
    with pytest.raises(errors.InvalidRequest, match="uint8 of shape"):
        await pool.run(ALIAS, [OcrRequest(np.zeros((4, 4), dtype=np.float32))])
    assert squeeze((await good).text) == "steady"


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims a size but has no pixel data."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunks = [(b"IHDR", header), (b"IDAT", zlib.compress(b"")), (b"IEND", b"")]
    return b"\x89PNG\r\n\x1a\n" + b"".join(
        struct.pack(">I", len(body)) + name + body + struct.pack(">I", zlib.crc32(name + body))
        for name, body in chunks
    )


@pytest.mark.parametrize(
    ("data", "error", "message"),
    [
        (b"", errors.InvalidRequest, "empty"),
        (b"GIF89a?", errors.UnsupportedMedia, "not an image Berth can read"),
        (b"%PDF-1.7 not an image", errors.UnsupportedMedia, "Send a PNG, JPEG"),
        (render_lines(["cut"])[:300], errors.UnsupportedMedia, "corrupt or truncated"),
        (png_header_only(100_000, 100_000), errors.MediaTooLarge, "too many pixels"),
        (png_header_only(8_000, 6_000), errors.MediaTooLarge, "at most 40000000"),
    ],
)
def test_bad_images_are_refused_with_what_to_send(
    data: bytes, error: type[errors.BerthError], message: str
) -> None:
    with pytest.raises(error, match=message):
        images.decode_image(data)


def test_limits_on_bytes_and_pixels_can_be_lowered() -> None:
    data = render_lines(["x"])
    with pytest.raises(errors.MediaTooLarge, match="Send a smaller"):
        images.decode_image(data, max_bytes=100)
    with pytest.raises(errors.MediaTooLarge, match="Scale it down"):
        images.decode_image(data, max_pixels=1000)


def test_transparency_becomes_white_and_everything_rgb() -> None:
    clear = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    decoded = images.decode_image(encode(clear))
    assert decoded.mode == "RGB" and decoded.getpixel((0, 0)) == (255, 255, 255)
    grey = images.decode_image(encode(Image.new("L", (3, 2), 7), "BMP"))
    assert grey.mode == "RGB" and grey.size == (3, 2) and grey.getpixel((1, 1)) == (7, 7, 7)


def test_base64_and_data_urls() -> None:
    data = render_lines(["y"])
    encoded = base64.b64encode(data).decode()
    assert images.image_bytes(encoded) == data
    assert images.image_bytes(f"data:image/png;base64,{encoded}") == data
    assert images.png_bytes(images.decode_image(data)).startswith(b"\x89PNG")
    refusals = [
        ("https://example.com/cat.png", errors.InvalidRequest, "does not fetch images"),
        ("", errors.InvalidRequest, "empty"),
        ("not base64!", errors.InvalidRequest, "not valid base64"),
        ("data:image/png,raw", errors.InvalidRequest, "not a base64 image"),
        (f"data:text/plain;base64,{encoded}", errors.UnsupportedMedia, "'text/plain', not an"),
    ]
    for value, error, message in refusals:
        with pytest.raises(error, match=message):
            images.image_bytes(value)
