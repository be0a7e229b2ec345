"""The messages between the pool and a model's runner thread, in a child process or not.

Tuples (``NamedTuple``) keep pickling cheap: one message per batch each way, plus one per
streamed step (a runner that makes a token for every input of its batch at once sends them
as one :class:`Chunks`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from berth.models.spec import ModelSpec
from berth.runners.contract import Runner


@dataclass(frozen=True)
class LoadOrder:
    """Everything a runner thread needs to load one model."""

    spec: ModelSpec
    path: Path | None
    device: str
    create: Callable[[], Runner]
    offline: bool = True


@dataclass(frozen=True)
class LoadReport:
    """What the runner thread measured right after the load."""

    seconds: float
    runner_bytes: int | None
    """What the runner says it holds (``Runner.memory_bytes``), if it knows."""
    cuda_reserved: int | None
    """``torch.cuda.memory_reserved`` on the model's device, for CUDA models."""
    rss_growth: int
    """How much the resident set of the loading process grew during the load."""


class Work(NamedTuple):
    """Pool to runner: run (or stream) one batch."""

    batch_id: int
    stream: bool
    items: Sequence[object]


class Cancel(NamedTuple):
    """Pool to runner: the caller of one input of a streamed batch has gone away."""

    batch_id: int
    position: int


class Ready(NamedTuple):
    """Runner to pool: the model is loaded."""

    report: LoadReport


class LoadFailed(NamedTuple):
    """Runner to pool: the load raised; the runner thread has ended."""

    error: BaseException


class Done(NamedTuple):
    """Runner to pool: a batch's outputs (``None`` ends a streamed batch)."""

    batch_id: int
    outputs: list[object] | None


class Failed(NamedTuple):
    """Runner to pool: a batch raised."""

    batch_id: int
    error: BaseException


class Chunks(NamedTuple):
    """Runner to pool: streamed chunks of one batch, as ``(position in batch, chunk)`` pairs
    in the order the runner made them."""

    batch_id: int
    pairs: list[tuple[int, object]]


Message = Ready | LoadFailed | Done | Failed | Chunks
"""Everything a runner thread sends."""
