"""Bodies of ``POST /v1/ocr`` (Berth's own endpoint; OpenAI has none for OCR)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from berth.services.ocr import DEFAULT_MODEL


class OcrBody(BaseModel):
    """The JSON form of the request (the other is a multipart upload with a ``file`` field)."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(default=DEFAULT_MODEL, min_length=1, description="An OCR model.")
    image: str = Field(
        min_length=1, description="The image as base64 or a data URL (data:image/png;base64,...)."
    )


class OcrLineOut(BaseModel):
    text: str
    confidence: float = Field(description="How sure the model is, 0 to 1.")
    box: list[list[float]] = Field(
        description="Corners in pixels: top-left, top-right, bottom-right, bottom-left."
    )


class OcrResponse(BaseModel):
    model: str
    text: str = Field(description="The lines' texts joined with newlines.")
    lines: list[OcrLineOut] = Field(description="Text lines in reading order.")
    width: int
    height: int
