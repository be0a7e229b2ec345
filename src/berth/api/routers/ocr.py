"""OCR: ``POST /v1/ocr`` (text lines with boxes and confidences)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
