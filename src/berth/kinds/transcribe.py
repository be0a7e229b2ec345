"""The job kind ``transcribe``: speech-to-text for audio files."""

from __future__ import annotations

from berth.hookspecs import Registry


def register(registry: Registry) -> None:
    """Register the kind."""
