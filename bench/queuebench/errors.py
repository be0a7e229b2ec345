"""The benchmark's one error: something kept a measurement from finishing."""

from __future__ import annotations


class BenchError(Exception):
    """A measurement could not be completed."""
