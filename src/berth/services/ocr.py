"""OCR: the text lines of an image, through the model pool.

Shared by ``POST /v1/ocr`` and the ``ocr`` job kind. The image is checked (format, size,
pixels) on a worker thread before it is sent to the model, so a bad upload gets a clear 4xx
without costing the model anything.
"""

from __future__ import annotations

from typing import Any

from berth.keys.key import ApiKey
from berth.media.images import decode_image_async
from berth.services.inference import InferenceService
from berth.tasks.calls import ModelCalls
from berth.tasks.ocr import OCR, OcrRequest, OcrResult

DEFAULT_MODEL = "rapidocr"


async def checked_request(data: bytes) -> OcrRequest:
    """The model's input for an encoded image, once the image is known to decode."""
    await decode_image_async(data)
    return OcrRequest(data)


def document(alias: str, result: OcrResult) -> dict[str, Any]:
    """The JSON form of a result: ``{"model", "text", "lines", "width", "height"}``."""
    return {
        "model": alias,
        "text": result.text,
        "lines": [
            {
                "text": line.text,
                "confidence": line.confidence,
                "box": [list(point) for point in line.box],
            }
            for line in result.lines
        ],
        "width": result.width,
        "height": result.height,
    }


async def recognize(models: ModelCalls, alias: str, data: bytes) -> OcrResult:
    """The text lines of the encoded image ``data``, read by the OCR model ``alias`` (the
    image is checked first, so a bad upload costs the model nothing)."""
    models.check(alias, OCR)
    request = await checked_request(data)
    [result] = await models.run(alias, OCR, [request])
    return result


class OcrService:
    """``POST /v1/ocr``: an uploaded image's text lines."""

    def __init__(self, inference: InferenceService) -> None:
        self.inference = inference

    async def read(self, caller: ApiKey | None, alias: str, data: bytes) -> OcrResult:
        """The lines of ``data`` read by ``alias``, for ``caller``."""
        return await recognize(self.inference.calls(caller), alias, data)
