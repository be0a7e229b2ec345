"""The one thread a training run's trainer works on.

Every call into a run's trainer (building it, restoring a checkpoint, each step, validation,
saving) goes to the same thread. Stepped from the event loop's default pool instead, the
steps land on whichever of its threads is free, and on CPU the same loop ran about 15% slower
(``bench/finetune.py``): PyTorch and the allocator keep per-thread state that goes cold each
time the step moves.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class TrainingThread:
    """A thread of its own for one run, open while the run trains."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._executor: ThreadPoolExecutor | None = None

    async def __aenter__(self) -> TrainingThread:
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=self._name)
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            # A step that is still running (the run was cancelled mid-step) ends on its own.
            executor.shutdown(wait=False)

    async def run(self, call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``call(*args, **kwargs)`` on the run's thread, in the caller's context."""
        if self._executor is None:
            raise RuntimeError(f"Cannot run {call!r}: the training thread {self._name} is closed.")
        context = contextvars.copy_context()
        bound = functools.partial(context.run, call, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._executor, bound)
