"""Voice activity: ``POST /v1/audio/vad`` (speech segments with start and end times)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
