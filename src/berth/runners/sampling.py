"""Choosing the next token of one generation from the model's scores: greedy at temperature
0, otherwise temperature and nucleus (top-p) sampling with the generation's own random
generator, so a seed gives the same text whatever else shares its batch."""

from __future__ import annotations

import secrets
from typing import Any

GREEDY_BELOW = 1e-5
"""Temperatures below this mean greedy decoding."""


class Sampler:
    """One generation's sampling settings and random state."""

    def __init__(self, temperature: float, top_p: float, seed: int | None, device: str) -> None:
        import torch

        self.greedy = temperature < GREEDY_BELOW
        self.temperature = temperature
        self.top_p = top_p
        self._generator = torch.Generator(device=device)
        self._generator.manual_seed(seed % 2**64 if seed is not None else secrets.randbits(63))

    def distribution(self, scores: Any) -> Any:
        """The log probabilities over the vocabulary that :meth:`pick` draws from (greedy: the
        model's own, at temperature 1); before top-p's cut."""
        import torch

        temperature = 1.0 if self.greedy else self.temperature
        return torch.log_softmax(scores.float() / temperature, dim=-1)

    def pick(self, scores: Any) -> int:
        """The next token from one row of scores (a 1-D tensor over the vocabulary)."""
        import torch

        if self.greedy:
            return int(scores.argmax())
        probs = torch.softmax(scores.float() / self.temperature, dim=-1)
        if self.top_p < 1.0:
            ordered, order = probs.sort(descending=True)
            before = ordered.cumsum(0) - ordered
            ordered = ordered.masked_fill(before >= self.top_p, 0.0)
            choice = torch.multinomial(ordered, 1, generator=self._generator)
            return int(order[choice])
        return int(torch.multinomial(probs, 1, generator=self._generator))
