"""Each generated token's log probability and its most likely alternatives, from the
distribution the sampler draws from (temperature applied, any grammar's mask included, so a
token the grammar forbids has no probability at all)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from berth.tasks.generate import TokenLogprob, TopLogprob

TokenBytes = Callable[[int], bytes]


class LogprobRecorder:
    """One generation's log probabilities: all of them, and those not yet streamed."""

    def __init__(self, top: int, token_bytes: TokenBytes) -> None:
        self.top = top
        self._bytes = token_bytes
        self.all: list[TokenLogprob] = []
        self._sent = 0

    def record(self, distribution: Any, token: int) -> None:
        """Note ``token`` picked from ``distribution`` (log probabilities over the vocabulary)."""
        best: list[TopLogprob] = []
        if self.top:
            values, tokens = distribution.topk(self.top)
            best = [
                self._top(int(t), float(v))
                for v, t in zip(values.tolist(), tokens.tolist(), strict=True)
                if v > -math.inf
            ]
        chosen = self._top(token, float(distribution[token]))
        self.all.append(TokenLogprob(chosen.token, chosen.bytes, chosen.logprob, tuple(best)))

    def pending(self) -> tuple[TokenLogprob, ...]:
        """The tokens recorded since the last call."""
        new, self._sent = self.all[self._sent :], len(self.all)
        return tuple(new)

    def prompt(self, model: Any, ids: list[int], device: str) -> tuple[TokenLogprob, ...]:
        """Each of the prompt ``ids``, scored by ``model`` given the ids before it (one
        forward pass, no sampling transform); the first, with nothing before it, scores 0."""
        import torch

        with torch.inference_mode():
            logits = model(torch.tensor([ids], device=device)).logits[0].float()
        scores = torch.log_softmax(logits, dim=-1)
        first = self._top(ids[0], 0.0)
        scored = [TokenLogprob(first.token, first.bytes, 0.0)]
        for place in range(1, len(ids)):
            self.record(scores[place - 1], ids[place])
            scored.append(self.all.pop())
        return tuple(scored)

    def _top(self, token: int, logprob: float) -> TopLogprob:
        raw = self._bytes(token)
        return TopLogprob(raw.decode("utf-8", errors="replace"), tuple(raw), max(logprob, -9999.0))
