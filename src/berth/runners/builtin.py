"""Registers Berth's built-in runners through the ``berth.runners`` entry point."""

from __future__ import annotations

from berth.hookspecs import Registry
from berth.models.spec import Task
from berth.runners import echo, sentence_transformer
from berth.runners.contract import RunnerType


def register(registry: Registry) -> None:
    """Register the built-in runners: ``echo`` and ``sentence-transformers``."""
    registry.add_runner(
        RunnerType(
            name="echo",
            create=echo.EchoRunner,
            tasks=frozenset(Task),
            description="Returns its inputs (or a vector per input); streams text word by "
            "word. For tests and demos.",
            streaming=True,
            options=echo.OPTIONS,
        )
    )
    registry.add_runner(
        RunnerType(
            name="sentence-transformers",
            create=sentence_transformer.SentenceTransformerRunner,
            tasks=frozenset({Task.EMBED}),
            description="Text embeddings with a sentence-transformers model.",
            options=sentence_transformer.OPTIONS,
        )
    )
