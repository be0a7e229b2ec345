"""Text-to-image: ``POST /v1/images/generations``."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
