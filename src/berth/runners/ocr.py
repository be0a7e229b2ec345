"""The ``rapidocr`` runner: text lines in images with RapidOCR's ONNX models.

It loads the detection, orientation and recognition models from the model's folder (for the
built-in ``rapidocr`` entry, the ONNX files the ``rapidocr-onnxruntime`` package ships) and
answers each :class:`OcrRequest` with an :class:`OcrResult`: the lines in reading order (top
to bottom, then left to right), each with its text, confidence and four-corner box in the
image's pixels.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from berth import errors
from berth.media.images import decode_image
from berth.models.spec import ModelSpec
from berth.runners.contract import check_options
from berth.tasks.ocr import OcrLine, OcrRequest, OcrResult

OPTIONS = {
    "min_confidence": "Drop lines read with less confidence than this (default 0.5).",
    "use_cls": "Detect and turn upside-down lines before reading them (default true).",
    "threads": "CPU threads per ONNX session (default: onnxruntime decides).",
}
MODEL_FILES = {
    "det": "ch_PP-OCRv4_det_infer.onnx",
    "cls": "ch_ppocr_mobile_v2.0_cls_infer.onnx",
    "rec": "ch_PP-OCRv4_rec_infer.onnx",
}
"""The ONNX file of each stage, by the name RapidOCR's settings give the stage."""


def image_of(request: OcrRequest) -> Image.Image:
    """The request's image as RGB; raises a Berth error for anything that is not one."""
    if isinstance(request.image, bytes):
        return decode_image(request.image)
    array = np.asarray(request.image)
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
        raise errors.InvalidRequest(
            f"An OCR image array must be uint8 of shape (height, width, 3), not {array.dtype} "
            f"{array.shape}. Send encoded image bytes instead."
        )
    return Image.fromarray(array, "RGB")


def line_of(found: Sequence[Any]) -> OcrLine:
    """An OcrLine from one RapidOCR result: ``[box, text, score]``."""
    corners, text, score = found[0], found[1], found[2]
    points = [(float(x), float(y)) for x, y in corners]
    return OcrLine(str(text), float(score), (points[0], points[1], points[2], points[3]))


class RapidOcrRunner:
    """Reads the text lines of each image in a batch, one image after the other."""

    def __init__(self) -> None:
        self._engine: Any = None

    def load(self, spec: ModelSpec, path: Path | None, device: str) -> None:
        if path is None:
            raise errors.ModelLoadFailed(
                f"Model '{spec.alias}' has no files: the rapidocr runner needs a folder with "
                f"{', '.join(MODEL_FILES.values())}."
            )
        options = spec.options.runner_options
        check_options(spec, "rapidocr", OPTIONS)
        missing = [name for name in MODEL_FILES.values() if not (path / name).is_file()]
        if missing:
            raise errors.ModelLoadFailed(
                f"Model '{spec.alias}': {path} lacks {', '.join(missing)}. Point the catalog "
                "entry at a folder with RapidOCR's det, cls and rec ONNX models."
            )
        settings: dict[str, Any] = {
            f"{stage}_model_path": str(path / name) for stage, name in MODEL_FILES.items()
        }
        settings["text_score"] = float(options.get("min_confidence", 0.5))
        settings["use_cls"] = bool(options.get("use_cls", True))
        if "threads" in options:
            settings["intra_op_num_threads"] = int(options["threads"])
        if device.startswith("cuda") and _has_cuda():
            settings.update(det_use_cuda=True, cls_use_cuda=True, rec_use_cuda=True)
        package: Any = importlib.import_module("rapidocr_onnxruntime")
        self._engine = package.RapidOCR(**settings)

    def run(self, batch: Sequence[Any]) -> list[Any]:
        if self._engine is None:
            raise errors.ModelError("The rapidocr runner has no model loaded.")
        return [self._read(item) for item in batch]

    def _read(self, item: Any) -> OcrResult | errors.BerthError:
        if not isinstance(item, OcrRequest):
            return errors.InvalidRequest(
                f"The rapidocr runner reads OcrRequest items, not {type(item).__name__}."
            )
        try:
            image = image_of(item)
        except errors.BerthError as exc:
            return exc
        found, _ = self._engine(image)
        lines = tuple(line_of(entry) for entry in found or ())
        return OcrResult(lines, image.width, image.height)

    def memory_bytes(self) -> int | None:
        return None

    def close(self) -> None:
        self._engine = None


def _has_cuda() -> bool:
    onnxruntime: Any = importlib.import_module("onnxruntime")
    providers: list[str] = onnxruntime.get_available_providers()
    return "CUDAExecutionProvider" in providers
