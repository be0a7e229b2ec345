"""Registers Berth's built-in runners through the ``berth.runners`` entry point."""

from __future__ import annotations

from berth.hookspecs import Registry


def register(registry: Registry) -> None:
    """Register the built-in runners (filled in as runners are added)."""
