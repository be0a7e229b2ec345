"""Text-to-speech: ``POST /v1/audio/speech``."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
