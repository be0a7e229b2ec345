"""Continuous batching on a llama.cpp context: every generating sequence advances one token per
``llama_decode``, prompts are prefilled in the same calls (cut to the batch's room), and
sequences join and leave between calls.

Each sequence has its own KV stream in the context (llama.cpp's sequence ids, one per place),
its own sampler chain and seed, its own detokenizer and stop sequences, so it makes the same
tokens alone or beside others. A constrained sequence has its own grammar matcher too: before
its token is drawn, the tokens its grammar forbids get -inf in its row of llama.cpp's logits
(which the sampler chain then reads), so it can only make what the grammar allows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from berth import errors
from berth.runners.contract import END, Cancelled, Take
from berth.runners.generating import Chunk, Generating
from berth.runners.grammars import Matcher, mask_rows
from berth.runners.llama_native import Context, Model, Sampler
from berth.tasks.generate import FinishReason

Step = list[tuple[int, Chunk]]


@dataclass
class Sequence:
    """One generation on the context: its prompt, sampler, KV stream and progress."""

    prompt: list[int]
    sampler: Sampler
    out: Generating
    matcher: Matcher | None = None
    """Its grammar's matcher, if its output is constrained."""
    place: int = -1
    """Its sequence id in the context."""
    fed: int = 0
    """Tokens in its KV stream."""
    pending: int | None = None
    """The token it made last, to be fed at the next decode."""

    @property
    def key(self) -> int:
        return self.out.key

    @property
    def finish(self) -> FinishReason | None:
        return self.out.finish

    def take(self, token: int, end: bool) -> list[Chunk]:
        """Add the token the model made (``end``: it ends the text); what shows of it."""
        self.pending = token
        return self.out.take(token, end)


Admit = Callable[[int, Any], Sequence]
"""Makes the sequence for ``(key, request)``; raises InvalidRequest to refuse it alone."""


class Scheduler:
    """Runs sequences on one context with ``places`` KV streams."""

    def __init__(
        self, model: Model, context: Context, places: int, ignore_end: bool = False
    ) -> None:
        self.model, self.context = model, context
        self._ends: Callable[[int], bool] = (lambda token: False) if ignore_end else model.is_end
        self._free = list(range(places - 1, -1, -1))
        self._batch = context.shape.batch

    def run(self, take: Take, cancelled: Cancelled, admit: Admit) -> Iterator[Step]:
        """Yield each decode's ``(key, chunk)`` pairs; every input taken ends with END (after
        its :class:`Generation` with the whole text, or its error, or when its caller left)."""
        active: list[Sequence] = []
        try:
            while True:
                step: Step = []
                if self._free:
                    active.extend(self._admit(take(len(self._free)), admit, step))
                for gone in [s for s in active if cancelled(s.key)]:
                    active.remove(gone)
                    self._release(gone)
                    step.append((gone.key, END))
                if not active:
                    if not step:
                        return
                    yield step
                    continue
                active = self._advance(active, step)
                if step:
                    yield step
        finally:
            for sequence in active:
                self._release(sequence)

    def _admit(self, offered: list[tuple[int, Any]], admit: Admit, step: Step) -> list[Sequence]:
        joined = []
        for key, item in offered:
            try:
                sequence = admit(key, item)
            except errors.InvalidRequest as exc:
                step.extend([(key, exc), (key, END)])
                continue
            sequence.place = self._free.pop()
            joined.append(sequence)
        return joined

    def _advance(self, active: list[Sequence], step: Step) -> list[Sequence]:
        """One decode, then a token for each sequence whose logits came out; the sequences
        that go on."""
        rows, sampled = self._rows(active)
        try:
            self.context.decode(rows)
        except errors.ModelError as exc:
            for sequence in active:
                self._release(sequence)
                step.extend([(sequence.key, exc), (sequence.key, END)])
            return []
        done: set[int] = set()
        for sequence, row in sampled:
            token = self._draw(sequence, row)
            complete = sequence.matcher is not None and sequence.matcher.accept(token)
            ended = complete or self._ends(token)
            step.extend((sequence.key, chunk) for chunk in sequence.take(token, ended))
            if sequence.finish is not None:
                self._release(sequence)
                step.append((sequence.key, END))
                done.add(sequence.key)
        return [sequence for sequence in active if sequence.key not in done]

    def _draw(self, sequence: Sequence, row: int) -> int:
        """The sequence's next token from the logits of batch row ``row``, masked by its
        grammar first if it has one."""
        if sequence.matcher is not None:
            import torch

            logits = torch.from_numpy(self.context.logits(row))
            mask_rows(logits.unsqueeze(0), [(0, sequence.matcher)])
        return sequence.sampler.sample(self.context, row)

    def _rows(
        self, active: list[Sequence]
    ) -> tuple[list[tuple[int, int, int, bool]], list[tuple[Sequence, int]]]:
        """The decode's rows: each generating sequence's last token first, then as much
        prefill as fits; and which row's logits each sampling sequence reads."""
        rows: list[tuple[int, int, int, bool]] = []
        sampled: list[tuple[Sequence, int]] = []
        for sequence in active:
            if sequence.pending is not None:
                sampled.append((sequence, len(rows)))
                rows.append((sequence.pending, sequence.fed, sequence.place, True))
                sequence.fed += 1
        for sequence in active:
            room = self._batch - len(rows)
            left = len(sequence.prompt) - sequence.fed
            if sequence.pending is not None or left <= 0 or room <= 0:
                continue
            end = sequence.fed + min(room, left)
            for offset in range(sequence.fed, end):
                last = offset == len(sequence.prompt) - 1
                if last:
                    sampled.append((sequence, len(rows)))
                rows.append((sequence.prompt[offset], offset, sequence.place, last))
            sequence.fed = end
        return rows, sampled

    def _release(self, sequence: Sequence) -> None:
        if sequence.place >= 0:
            self.context.forget(sequence.place)
            self._free.append(sequence.place)
            sequence.place = -1
        sequence.sampler.close()
