"""Batched token-by-token generation with a causal LM and its KV cache.

Every generation of a batch advances one token per forward pass. Prompts are left-padded to
one length, with an attention mask that hides the padding and position ids that start at 0
for each prompt's first real token, so a prompt generates the same tokens alone or in a batch.
A generation that finishes (end-of-sequence, a stop sequence, its token limit) or whose
caller leaves is dropped from the batch and from the cache; the rest go on.

On a model that hosts LoRA adapters (see :mod:`berth.runners.adapters`) each row runs with its
slot's adapter, or the base alone, in the same forward pass.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from berth.runners.adapters import BASE
from berth.runners.contract import END, EndOfInput
from berth.runners.detokenizer import Decode, Detokenizer
from berth.runners.grammars import Matcher, mask_rows
from berth.runners.logprobs import LogprobRecorder
from berth.runners.sampling import Sampler
from berth.tasks.generate import FinishReason, Generation, TextDelta, TokenLogprob, cut_at_stop

Chunk = TextDelta | Generation


@dataclass
class Slot:
    """One generation in a batch: its prompt, its settings and what it has made so far."""

    index: int
    """Its place in the runner's batch."""
    prompt: list[int]
    limit: int
    """Most tokens it may make."""
    sampler: Sampler
    text: Detokenizer
    whole: Decode
    """Decodes all its tokens at once, for the final text."""
    stops: tuple[str, ...] = ()
    matcher: Matcher | None = None
    """Its grammar's matcher, if its output is constrained."""
    logprobs: LogprobRecorder | None = None
    """Where its tokens' log probabilities go, if they were asked for."""
    prompt_logprobs: tuple[TokenLogprob, ...] | None = None
    """Its prompt's tokens scored (``echo``), if they were asked for."""
    adapter: str | None = None
    """The (internal) name of the LoRA adapter it runs with; None: the base alone."""
    made: int = 0
    finish: FinishReason | None = None
    last: int = 0

    def pick(self, scores: Any, greedy: int) -> tuple[int, bool]:
        """The next token from this slot's row of (masked) scores (``greedy``: its argmax),
        and whether it ends the grammar."""
        token = greedy if self.sampler.greedy else self.sampler.pick(scores)
        if self.logprobs is not None:
            self.logprobs.record(self.sampler.distribution(scores), token)
        return token, self.matcher is not None and self.matcher.accept(token)

    def take(self, token: int, end: bool) -> Iterator[Chunk]:
        """Add the model's next token (``end``: it ends the text); yield what shows."""
        self.made, self.last = self.made + 1, token
        if end:
            if self.logprobs is not None:
                self.logprobs.all.pop()  # an end token is not part of the text

            piece, self.finish = self.text.finish(), "stop"
        else:
            piece = self.text.add(token)
            if self.text.stopped:
                self.finish = "stop"
            elif self.made >= self.limit:
                piece, self.finish = piece + self.text.finish(), "length"
        if piece:
            yield TextDelta(piece, self.logprobs.pending() if self.logprobs else ())
        if self.finish is not None:
            yield self.result()

    def result(self) -> Generation:
        """The finished generation: all its text (cut at a stop sequence) and its counts."""
        text, _ = cut_at_stop(self.whole(self.text.ids), self.stops)
        logprobs = tuple(self.logprobs.all) if self.logprobs is not None else None
        return Generation(
            text,
            self.finish or "length",
            len(self.prompt),
            self.made,
            logprobs=logprobs,
            prompt_logprobs=self.prompt_logprobs,
        )


Join = Callable[[int], list[Slot]]
"""Gives up to ``room`` more slots to join a running batch (maybe none)."""


class Decoder:
    """Runs batches of :class:`Slot` on one model."""

    def __init__(self, model: Any, end_ids: frozenset[int], pad_id: int, device: str) -> None:
        self.model = model
        self.end_ids = end_ids
        self.pad_id = pad_id
        self.device = device
        self._cache_arg = cache_argument(model)
        self._per_row = False

    def host(self, model: Any) -> None:
        """Run on ``model`` from now on: a PEFT model around the same base, hosting adapters,
        each row with its slot's adapter."""
        self.model, self._per_row = model, True

    def generate(
        self,
        slots: Sequence[Slot],
        cancelled: Callable[[int], bool],
        join: Join | None = None,
        capacity: int = 0,
    ) -> Iterator[list[tuple[int, Chunk | EndOfInput]]]:
        """Yield each step's ``(slot index, chunk)`` pairs (one list per forward pass), each
        slot ending with its :class:`Generation` and then ``END`` (also when it is dropped
        because its caller left).

        With ``join``, slots join between steps while fewer than ``capacity`` run: each gets
        its own prefill, and its cache is merged into the batch's (continuous batching)."""
        waiting = list(slots)
        active: list[Slot] = []
        batch: _Batch | None = None
        ends: list[tuple[int, Chunk | EndOfInput]] = []
        while True:
            room = capacity - len(active) - len(waiting)
            if join is not None and room > 0 and (batch is None or batch.joinable):
                waiting.extend(join(room))
            step, ends = ends, []
            live = [slot for slot in waiting if not cancelled(slot.index)]
            step.extend((slot.index, END) for slot in waiting if cancelled(slot.index))
            waiting = []
            if live:
                batch = self._admit(batch, live)
                active.extend(live)
            if not active:
                if step:
                    yield step
                return
            assert batch is not None
            keep = self._pick(batch, active, cancelled, step)
            yield step
            # A caller may have left while the step went out: drop it before the next pass.
            ends = [(active[row].index, END) for row in keep if cancelled(active[row].index)]
            keep = [row for row in keep if not cancelled(active[row].index)]
            if len(keep) < len(active):
                active = [active[row] for row in keep]
                batch = batch.select(keep, self.device) if keep else None
            if batch is not None:
                self._next(batch, active)

    def _pick(
        self,
        batch: _Batch,
        active: list[Slot],
        cancelled: Callable[[int], bool],
        step: list[tuple[int, Chunk | EndOfInput]],
    ) -> list[int]:
        """Each row's next token, its text into ``step``; the rows that go on."""
        keep: list[int] = []
        constrained = [(row, s.matcher) for row, s in enumerate(active) if s.matcher is not None]
        mask_rows(batch.scores, constrained)
        greedy = batch.scores.argmax(dim=-1).tolist()
        for row, slot in enumerate(active):
            if cancelled(slot.index):
                step.append((slot.index, END))
                continue
            token, done = slot.pick(batch.scores[row], greedy[row])
            end = done or token in self.end_ids
            step.extend((slot.index, chunk) for chunk in slot.take(token, end))
            if slot.finish is None:
                keep.append(row)
            else:
                step.append((slot.index, END))
        return keep

    def _admit(self, batch: _Batch | None, slots: Sequence[Slot]) -> _Batch:
        """Prefill ``slots`` and add them to ``batch`` (a new batch if there is none)."""
        from transformers import DynamicCache

        cache = DynamicCache(config=self.model.config)
        ids, mask, positions = self._prefill_inputs(slots)
        scores = self._forward(ids, mask, positions, cache, slots)
        joined = _Batch(cache, mask, positions[:, -1:], scores)
        return joined if batch is None else batch.merge(joined)

    def _next(self, batch: _Batch, active: Sequence[Slot]) -> None:
        """One forward pass: every slot's last token in, the next token's scores out."""
        import torch

        ids = torch.tensor([[slot.last] for slot in active], device=self.device)
        batch.mask = torch.cat([batch.mask, batch.mask.new_ones((len(active), 1))], dim=1)
        batch.positions = batch.positions + 1
        batch.scores = self._forward(ids, batch.mask, batch.positions, batch.cache, active)

    def _prefill_inputs(self, slots: Sequence[Slot]) -> tuple[Any, Any, Any]:
        import torch

        width = max(len(slot.prompt) for slot in slots)
        rows = [[self.pad_id] * (width - len(s.prompt)) + s.prompt for s in slots]
        masks = [[0] * (width - len(s.prompt)) + [1] * len(s.prompt) for s in slots]
        ids = torch.tensor(rows, device=self.device)
        mask = torch.tensor(masks, device=self.device)
        positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
        return ids, mask, positions

    def _forward(
        self, ids: Any, mask: Any, positions: Any, cache: Any, slots: Sequence[Slot]
    ) -> Any:
        import torch

        rows = self.adapter_names([slot.adapter for slot in slots])
        with torch.inference_mode():
            out = self.model(
                input_ids=ids,
                attention_mask=mask,
                position_ids=positions,
                use_cache=True,
                **{self._cache_arg: cache},
                logits_to_keep=1,
                **rows,
            )
        return out.logits[:, -1, :]

    def adapter_names(self, adapters: Sequence[str | None]) -> dict[str, list[str]]:
        """The forward pass's ``adapter_names`` argument for rows with these adapters (None:
        the base alone); nothing while no adapter is hosted."""
        if not self._per_row:
            return {}
        return {"adapter_names": [name or BASE for name in adapters]}


def cache_argument(model: Any) -> str:
    """The name under which ``model``'s forward takes its KV cache: ``cache`` since
    transformers 5.2x, ``past_key_values`` in models (and releases) that have not moved."""
    parameters = inspect.signature(model.forward).parameters
    return "cache" if "cache" in parameters else "past_key_values"


class _Batch:
    """The running batch's state: KV cache, attention mask (left padding is 0), each row's
    last position, and the scores for each row's next token."""

    def __init__(self, cache: Any, mask: Any, positions: Any, scores: Any) -> None:
        from transformers.cache_utils import DynamicLayer

        self.cache, self.mask, self.positions, self.scores = cache, mask, positions, scores
        layers: list[Any] = getattr(cache, "layers", None) or []
        self.joinable = bool(layers) and all(type(layer) is DynamicLayer for layer in layers)
        """Whether new rows can be merged in: every cache layer is a plain growing one (a
        sliding-window or static cache is not merged; such a batch runs to its end). Fixed
        by the cache's kind, which merging and selecting rows keep."""

    def select(self, rows: list[int], device: str) -> _Batch:
        """Keep only ``rows``; drop leading columns that are padding in every row left."""
        import torch

        index = torch.tensor(rows, device=device)
        self.cache.batch_select_indices(index)
        self.mask, self.positions = self.mask[index], self.positions[index]
        used = self.mask.any(dim=0)
        start = int(used.int().argmax())
        if start > 0 and self.joinable:
            for layer in self.cache.layers:
                layer.keys = layer.keys[:, :, start:, :]
                layer.values = layer.values[:, :, start:, :]
            self.mask = self.mask[:, start:]
        return self

    def merge(self, other: _Batch) -> _Batch:
        """Append ``other``'s rows, left-padding the shorter side's cache and mask."""
        import torch
        from torch.nn.functional import pad

        mine, theirs = self.mask.shape[1], other.mask.shape[1]
        width = max(mine, theirs)
        for layer, new in zip(self.cache.layers, other.cache.layers, strict=True):
            for name in ("keys", "values"):
                old_states, new_states = getattr(layer, name), getattr(new, name)
                merged = torch.cat(
                    [
                        pad(old_states, (0, 0, width - mine, 0)),
                        pad(new_states, (0, 0, width - theirs, 0)),
                    ]
                )
                setattr(layer, name, merged)
        self.mask = torch.cat(
            [pad(self.mask, (width - mine, 0)), pad(other.mask, (width - theirs, 0))]
        )
        self.positions = torch.cat([self.positions, other.positions])
        self.scores = torch.cat([self.scores, other.scores])
        return self
