"""What a model does (its catalog ``task``), and :class:`ModelTask`: one kind of call into a
model, with what goes in and what comes out."""

from __future__ import annotations

import enum


class Task(enum.StrEnum):
    """What a model does; the API routes requests by task."""

    EMBED = "embed"
    CHAT = "chat"
    COMPLETE = "complete"
    IMAGE = "image"
    VISION = "vision"
    TRANSCRIBE = "transcribe"
    SPEAK = "speak"
    OCR = "ocr"
    VAD = "vad"
    ECHO = "echo"
