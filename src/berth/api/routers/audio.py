"""Speech-to-text: ``POST /v1/audio/transcriptions``."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
