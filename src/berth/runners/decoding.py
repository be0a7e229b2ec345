"""Batched token-by-token generation with a causal LM and its KV cache.

Every generation of a batch advances one token per forward pass. Prompts are left-padded to
one length, with an attention mask that hides the padding and position ids that start at 0
for each prompt's first real token, so a prompt generates the same tokens alone or in a batch.
A generation that finishes (end-of-sequence, a stop sequence, its token limit) or whose
caller leaves is dropped from the batch and from the cache; the rest go on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from berth.runners.detokenizer import Decode, Detokenizer
from berth.runners.generation import FinishReason, Generation, TextDelta, cut_at_stop
from berth.runners.sampling import Sampler

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
    made: int = 0
    finish: FinishReason | None = None
    last: int = 0

    def take(self, token: int, end: bool) -> Iterator[Chunk]:
        """Add the model's next token (``end``: it ends the text); yield what shows."""
        self.made, self.last = self.made + 1, token
        if end:
            piece, self.finish = self.text.finish(), "stop"
        else:
            piece = self.text.add(token)
            if self.text.stopped:
                self.finish = "stop"
            elif self.made >= self.limit:
                piece, self.finish = piece + self.text.finish(), "length"
        if piece:
            yield TextDelta(piece)
        if self.finish is not None:
            yield self.result()

    def result(self) -> Generation:
        """The finished generation: all its text (cut at a stop sequence) and its counts."""
        text, _ = cut_at_stop(self.whole(self.text.ids), self.stops)
        return Generation(text, self.finish or "length", len(self.prompt), self.made)


class Decoder:
    """Runs batches of :class:`Slot` on one model."""

    def __init__(self, model: Any, end_ids: frozenset[int], pad_id: int, device: str) -> None:
        self.model = model
        self.end_ids = end_ids
        self.pad_id = pad_id
        self.device = device

    def generate(
        self, slots: Sequence[Slot], cancelled: Callable[[int], bool]
    ) -> Iterator[tuple[int, Chunk]]:
        """Yield ``(slot index, chunk)`` as tokens are made, each slot ending with its
        :class:`Generation`; stop early for slots whose caller left."""
        import torch
        from transformers import DynamicCache

        active = [slot for slot in slots if not cancelled(slot.index)]
        if not active:
            return
        cache = DynamicCache(config=self.model.config)
        ids, mask, positions = self._prefill_inputs(active)
        scores = self._forward(ids, mask, positions, cache)
        while True:
            keep: list[int] = []
            greedy = scores.argmax(dim=-1).tolist()
            for row, slot in enumerate(active):
                if cancelled(slot.index):
                    continue
                token = greedy[row] if slot.sampler.greedy else slot.sampler.pick(scores[row])
                for chunk in slot.take(token, token in self.end_ids):
                    yield slot.index, chunk
                if slot.finish is None and not cancelled(slot.index):
                    keep.append(row)
            if not keep:
                return
            if len(keep) < len(active):
                rows = torch.tensor(keep, device=self.device)
                cache.batch_select_indices(rows)
                mask, positions = mask[rows], positions[rows]
                active = [active[row] for row in keep]
            ids = torch.tensor([[slot.last] for slot in active], device=self.device)
            mask = torch.cat([mask, mask.new_ones((len(active), 1))], dim=1)
            positions = positions[:, -1:] + 1
            scores = self._forward(ids, mask, positions, cache)

    def _prefill_inputs(self, slots: Sequence[Slot]) -> tuple[Any, Any, Any]:
        import torch

        width = max(len(slot.prompt) for slot in slots)
        rows = [[self.pad_id] * (width - len(s.prompt)) + s.prompt for s in slots]
        masks = [[0] * (width - len(s.prompt)) + [1] * len(s.prompt) for s in slots]
        ids = torch.tensor(rows, device=self.device)
        mask = torch.tensor(masks, device=self.device)
        positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
        return ids, mask, positions

    def _forward(self, ids: Any, mask: Any, positions: Any, cache: Any) -> Any:
        import torch

        with torch.inference_mode():
            out = self.model(
                input_ids=ids,
                attention_mask=mask,
                position_ids=positions,
                past_key_values=cache,
                use_cache=True,
                logits_to_keep=1,
            )
        return out.logits[:, -1, :]
