"""OCR: the text lines of an image, through the model pool.

Shared by ``POST /v1/ocr`` and the ``ocr`` job kind. The image is checked (format, size,
pixels) on a worker thread before it is sent to the model, so a bad upload gets a clear 4xx
without costing the model anything.
"""

from __future__ import annotations

from typing import Any

from berth import errors
from berth.media.images import decode_image_async
from berth.services.inference import InferenceService
from berth.tasks.ocr import OcrRequest, OcrResult
from berth.tasks.task import Task

DEFAULT_MODEL = "rapidocr"
OCR_TASKS = frozenset({Task.OCR})


async def checked_request(data: bytes) -> OcrRequest:
    """The model's input for an encoded image, once the image is known to decode."""
    await decode_image_async(data)
    return OcrRequest(data)


def result_of(alias: str, output: Any) -> OcrResult:
    """The model's output, checked to be an OCR result."""
    if not isinstance(output, OcrResult):
        raise errors.ModelError(
            f"Model '{alias}' did not return text lines ({type(output).__name__}). "
            "Use an OCR model such as rapidocr."
        )
    return output


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


async def recognize(service: InferenceService, alias: str, data: bytes) -> OcrResult:
    """The text lines of the encoded image ``data``, read by the OCR model ``alias``."""
    service.model(alias, OCR_TASKS)
    request = await checked_request(data)
    await service.prepare(alias, OCR_TASKS)
    [output] = await service.pool.run(alias, [request])
    return result_of(alias, output)
