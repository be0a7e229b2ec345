"""The adjacent reference: the model called in-process just before and just after a window.

This VM's speed drifts by up to 2x within minutes, and the systems run one after another, so
a system measured in a slow minute looks worse against a baseline taken in a fast one. At the
concurrencies the targets name (1 and 64), each wrk window is therefore bracketed by two short
in-process runs of the same model (the best batch size for 64, batch 1 for 1), and the
system's figure is also read against them: the same minutes, the same machine speed (the
better of the two, see :func:`better`). The servers sit idle meanwhile.
"""

from __future__ import annotations

from typing import Any

from .inprocess import batch1_latencies, load_model, percentile, throughput

ADJACENT = (1, 64)
"""The concurrencies whose windows are bracketed."""
WINDOW_S = 3.0
"""Seconds of each in-process run (quick: 1)."""


def better(pair: tuple[float, float], connections: int) -> float:
    """The better of the runs before and after a window: the higher rate (64) or the lower
    p50 (1). Other work only ever slows the model down (a server still busy after its window
    would slow the run after it), so the better run is the closer to the machine's speed, and
    the harder reference to match, as with the baseline's best of two."""
    return min(pair) if connections == 1 else max(pair)


class Reference:
    """The model loaded in this process, to measure next to a server's windows."""

    def __init__(self, best_batch: int, seconds: float) -> None:
        self._model: Any = load_model()
        self._batch = best_batch
        self._seconds = seconds

    def measure(self, connections: int) -> float:
        """Sentences/s at the best batch size (for 64), or the batch-1 p50 in ms (for 1)."""
        if connections == 1:
            return percentile(batch1_latencies(self._model, self._seconds), 50)
        return throughput(self._model, self._batch, self._seconds)

    def close(self) -> None:
        self._model = None
