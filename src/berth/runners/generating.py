"""What every token-by-token generation keeps, whatever engine makes its tokens: its text as
it shows (cut at stop sequences), its token limit, and its finished :class:`Generation`; and
how many tokens a request may make in a context."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from berth import errors
from berth.runners.contract import EndOfInput, Take
from berth.runners.detokenizer import Detokenizer
from berth.tasks.generate import FinishReason, Generation, TextDelta, cut_at_stop

Chunk = TextDelta | Generation | EndOfInput | BaseException


@dataclass
class Generating:
    """One generation's progress."""

    key: int
    prompt_tokens: int
    limit: int
    """Most tokens it may make."""
    text: Detokenizer
    decode: Callable[[Sequence[int]], str]
    """Decodes all its tokens at once, for the final text."""
    stops: tuple[str, ...] = ()
    made: list[int] = field(default_factory=list)
    finish: FinishReason | None = None

    def take(self, token: int, end: bool) -> list[Chunk]:
        """Add the engine's next token (``end``: it ends the text); what shows of it, and the
        :class:`Generation` with the whole text once it is finished."""
        self.made.append(token)
        if end:
            piece, self.finish = self.text.finish(), "stop"
        else:
            piece = self.text.add(token)
            if self.text.stopped:
                self.finish = "stop"
            elif len(self.made) >= self.limit:
                piece, self.finish = piece + self.text.finish(), "length"
        chunks: list[Chunk] = [TextDelta(piece)] if piece else []
        if self.finish is not None:
            chunks.append(self.result())
        return chunks

    def result(self) -> Generation:
        text, _ = cut_at_stop(self.decode(self.text.ids), self.stops)
        return Generation(text, self.finish or "length", self.prompt_tokens, len(self.made))


def token_limit(alias: str, context: int, prompt: int, asked: int | None, default: int) -> int:
    """How many tokens a request may make; ContextTooLong, naming the limit, if it cannot
    fit."""
    room = context - prompt
    if room < 1:
        raise errors.ContextTooLong(
            f"The prompt is {prompt} tokens long, but model '{alias}' reads at most "
            f"{context} tokens, prompt and reply together. Shorten the prompt to "
            f"fewer than {context} tokens."
        )
    if asked is not None and asked > room:
        raise errors.ContextTooLong(
            f"The prompt is {prompt} tokens long and max_tokens asks for {asked} more: "
            f"{prompt + asked} tokens, past the {context} that model '{alias}' "
            f"reads. Shorten the prompt or set max_tokens to {room} or less."
        )
    return asked if asked is not None else min(default, room)


def offer(batch: Sequence[Any]) -> Take:
    """A ``take`` that hands out a fixed batch as ``(index, input)`` pairs, as room allows (a
    continuous runner serves ``run`` and ``stream`` with it)."""
    waiting = list(enumerate(batch))

    def take(room: int) -> list[tuple[int, Any]]:
        given, waiting[:] = waiting[:room], waiting[room:]
        return given

    return take


def without_text(chunk: Any) -> Any:
    """A streamed chunk as a plain stream shows it: a final :class:`Generation` without its
    text, which went out piece by piece."""
    return dataclasses.replace(chunk, text="") if isinstance(chunk, Generation) else chunk
