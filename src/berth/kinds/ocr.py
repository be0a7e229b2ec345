"""The job kind ``ocr``: text in image files."""

from __future__ import annotations

from berth.hookspecs import Registry


def register(registry: Registry) -> None:
    """Register the kind."""
