"""The job kind ``generate``: batch text generation."""

from __future__ import annotations

from berth.hookspecs import Registry


def register(registry: Registry) -> None:
    """Register the kind."""
