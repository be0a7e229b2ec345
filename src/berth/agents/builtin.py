"""Berth's built-in tools, registered through the same hook as third-party ones."""

from __future__ import annotations

from berth.agents.fetch import HTTP_FETCH
from berth.agents.modeltools import MODEL_TOOLS
from berth.hookspecs import Registry


def register(registry: Registry) -> None:
    """Add the HTTP fetch tool and Berth's own models as tools."""
    registry.add_tool(HTTP_FETCH)
    for tool in MODEL_TOOLS:
        registry.add_tool(tool)
