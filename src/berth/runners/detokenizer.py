"""Generated token ids to text, piece by piece, as a stream can show it.

Token boundaries do not fall on character boundaries (byte-level vocabularies split a
multi-byte character over several tokens) and some tokenizers decode a token differently
alone than after its neighbours (a leading space). So each step decodes a short window of
recent tokens twice, with and without the new ones, and emits only the difference, and only
once it no longer ends in an incomplete character. Text that could be the start of a stop
sequence is held back until it is clear that it is not.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

REPLACEMENT = "\ufffd"

Decode = Callable[[Sequence[int]], str]


class Detokenizer:
    """Turns one generation's token ids into stable text pieces, cut at stop sequences."""

    def __init__(self, decode: Decode, stops: Sequence[str] = ()) -> None:
        self._decode = decode
        self._stops = tuple(stop for stop in stops if stop)
        self._longest = max((len(stop) for stop in self._stops), default=0)
        self.ids: list[int] = []
        self._prefix = 0
        """Where the decode window starts: tokens before it are in ``_text`` for good."""
        self._read = 0
        """Tokens up to here have been turned into ``_text``."""
        self._text = ""
        """Stable text so far (may end in held-back text)."""
        self._sent = 0
        """Characters of ``_text`` given out."""
        self.stopped = False
        """True once a stop sequence appeared: the text ends before it."""

    def add(self, token: int) -> str:
        """Take one more token; return the text that is now safe to show (maybe "")."""
        self.ids.append(token)
        window = self._decode(self.ids[self._prefix :])
        if window.endswith(REPLACEMENT):
            return ""
        before = self._decode(self.ids[self._prefix : self._read])
        self._text += window[len(before) :]
        self._prefix, self._read = self._read, len(self.ids)
        return self._release()

    def finish(self) -> str:
        """The rest of the text, once no more tokens will come."""
        if not self.stopped and self._read < len(self.ids):
            window = self._decode(self.ids[self._prefix :])
            before = self._decode(self.ids[self._prefix : self._read])
            self._text += window[len(before) :]
            self._read = len(self.ids)
            cut = self._stop_at()
            if cut is not None:
                self._text, self.stopped = self._text[:cut], True
        piece, self._sent = self._text[self._sent :], len(self._text)
        return piece

    @property
    def text(self) -> str:
        """The stable text so far, cut at a stop sequence if one appeared."""
        return self._text

    def _stop_at(self) -> int | None:
        start = max(0, self._sent - self._longest)
        found = [at for stop in self._stops if (at := self._text.find(stop, start)) >= 0]
        return min(found) if found else None

    def _release(self) -> str:
        cut = self._stop_at()
        if cut is not None:
            self._text, self.stopped = self._text[:cut], True
            end = cut
        else:
            end = len(self._text) - self._held()
        piece = self._text[self._sent : end]
        self._sent = max(self._sent, end)
        return piece

    def _held(self) -> int:
        """How many trailing characters might begin a stop sequence."""
        tail = self._text[-self._longest :] if self._longest else ""
        for size in range(len(tail), 0, -1):
            if any(stop.startswith(tail[-size:]) for stop in self._stops):
                return size
        return 0
