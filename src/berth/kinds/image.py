"""The job kind ``image``: text-to-image, PNGs as artifacts."""

from __future__ import annotations

from berth.hookspecs import Registry


def register(registry: Registry) -> None:
    """Register the kind."""
