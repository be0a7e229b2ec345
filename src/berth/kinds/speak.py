"""The job kind ``speak``: text-to-speech into audio artifacts."""

from __future__ import annotations

from berth.hookspecs import Registry


def register(registry: Registry) -> None:
    """Register the kind."""
