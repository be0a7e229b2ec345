"""What text-generation runners (chat and completions) take and give back.

The API builds a :class:`GenerationRequest` per request; the pool batches them to the model's
runner; ``run`` returns one :class:`Generation` per request and ``stream`` yields
:class:`TextDelta` pieces followed by one :class:`Generation` (with empty text) that carries
the finish reason and the token counts. Plain data, so it crosses process boundaries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from berth.tasks.task import ModelTask, Task

FinishReason = Literal["stop", "length"]


@dataclass(frozen=True)
class ChatMessage:
    role: str
    content: str
    images: tuple[bytes, ...] = ()
    """Encoded images (PNG, JPEG, ...) the message shows, before its text; for vision models."""


@dataclass(frozen=True)
class GenerationRequest:
    """One prompt (completions) or one conversation (chat), with sampling settings."""

    prompt: str | None = None
    messages: tuple[ChatMessage, ...] = ()
    max_tokens: int | None = None
    temperature: float = 1.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int | None = None
    top_k: int = 0
    """Sample from the k likeliest tokens only (0: all); runners that cannot ignore it."""
    min_p: float = 0.0
    """Drop tokens less likely than this times the likeliest (0: none)."""
    repeat_penalty: float = 1.0
    """Divide the scores of recently made tokens by this (1: no penalty)."""

    @property
    def is_chat(self) -> bool:
        return self.prompt is None


@dataclass(frozen=True)
class TextDelta:
    """A piece of generated text, as it is made."""

    text: str


@dataclass(frozen=True)
class Generation:
    """A finished generation (in a stream: the last item, for its counts and finish reason;
    its text went out piece by piece before it and may be left empty here)."""

    text: str
    finish_reason: FinishReason
    prompt_tokens: int
    completion_tokens: int
    extra: dict[str, str] = field(default_factory=dict)


def cut_at_stop(text: str, stops: tuple[str, ...]) -> tuple[str, bool]:
    """``text`` up to the first stop sequence, and whether one was found."""
    cuts = [text.find(stop) for stop in stops if stop and stop in text]
    if not cuts:
        return text, False
    return text[: min(cuts)], True


GENERATE = ModelTask(
    "text", frozenset({Task.CHAT, Task.COMPLETE, Task.VISION}), Generation, (TextDelta, Generation)
)
