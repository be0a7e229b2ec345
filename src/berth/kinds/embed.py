"""The ``embed`` job kind (filled in with the model pool)."""

from __future__ import annotations

from berth.hookspecs import Registry


def register(registry: Registry) -> None:
    """Register the kinds that run on models (filled in with the model pool)."""
