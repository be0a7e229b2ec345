"""The runner contract: load a model on a device, run batches, report memory, close.

A runner instance holds one loaded model. The pool creates it (in a model process, or in a
thread for the thread transport), calls ``load`` once, then ``run`` (or ``stream``) with
batches from one dedicated thread, and finally ``close``. Inputs and outputs cross a process
boundary, so they must be picklable (plain data, numpy arrays, bytes).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol, runtime_checkable

from berth import errors
from berth.models.spec import ModelSpec
from berth.tasks.task import Task


class Runner(Protocol):
    """One loaded model.

    A runner that sets ``concurrent = True`` (on its class, or on itself in ``load``, as
    it is read after the model loads) may have ``run`` (or ``run_prepared``) called for
    several parts of a batch at once from different threads: the model option ``workers``
    needs it, and is refused at load for any other runner."""

    def load(self, spec: ModelSpec, path: Path | None, device: str) -> None:
        """Load the model from ``path`` (its verified local files; None if it needs none)
        onto ``device`` ("cpu", "cuda:0", ...). Must not touch the network."""
        ...

    def run(self, batch: Sequence[Any]) -> list[Any]:
        """One output per input, in order. Raise to fail the whole batch; return an exception
        instance as an input's output to fail only that input's request (a prompt too long
        for the context, say)."""
        ...

    def memory_bytes(self) -> int | None:
        """Device memory the model holds, if the runner knows it better than the pool."""
        ...

    def close(self) -> None:
        """Free what ``load`` took."""
        ...


Cancelled = Callable[[int], bool]
"""Asks whether the caller of the input at an index in a streamed batch has gone away."""


def never_cancelled(index: int) -> bool:
    """The ``cancelled`` of a stream nobody can cancel (direct calls, tests)."""
    return False


StreamItem = tuple[int, Any] | list[tuple[int, Any]]
"""What :meth:`StreamingRunner.stream` yields: one ``(index, chunk)`` pair, or a list of them."""


def pairs(stream: Iterable[StreamItem]) -> Iterator[tuple[int, Any]]:
    """A runner's stream as single ``(index, chunk)`` pairs, its steps taken apart."""
    for item in stream:
        if isinstance(item, list):
            yield from item
        else:
            yield item


@runtime_checkable
class StreamingRunner(Runner, Protocol):
    """A runner that can yield partial outputs (tokens, audio chunks, progress) as they are
    made."""

    def stream(
        self, batch: Sequence[Any], cancelled: Cancelled = never_cancelled
    ) -> Iterator[StreamItem]:
        """Yield ``(index in batch, chunk)`` pairs; an input's stream ends when the iterator
        ends or when a chunk for it says so (runner-specific).

        A runner that makes chunks for several inputs at once (a decoding step makes one token
        for every input) may yield them as one list of pairs: the pool sends such a list to
        the callers as one message, which costs far less than one message per pair.

        A chunk that is an exception instance fails that input's stream alone.

        ``cancelled(index)`` turns true once that input's caller stopped listening: skip its
        remaining work (stop generating its tokens). Chunks for it are dropped anyway, and
        once every input of the batch is cancelled the pool closes the iterator at its next
        yield."""
        ...


class EndOfInput:
    """The type of :data:`END`: marks that an input of a continuous stream is finished."""

    def __repr__(self) -> str:
        return "END"


END: Final = EndOfInput()
"""What a :class:`ContinuousRunner` yields as ``(key, END)`` once an input is finished (after
its last chunk, or when it dropped the input because its caller left)."""

Take = Callable[[int], list[tuple[int, Any]]]
"""Asks the pool for up to ``room`` more inputs: ``(key, input)`` pairs, maybe none."""


@runtime_checkable
class ContinuousRunner(StreamingRunner, Protocol):
    """A streaming runner that takes new inputs between its steps (continuous batching): a
    request that arrives while others stream joins them at the next step instead of waiting
    for the whole batch to finish.

    ``stream_continuous`` calls ``take(room)`` whenever it has room (``room`` is at most how
    many more inputs it can work on at once); ``take`` never blocks. Chunks are yielded as
    ``(key, chunk)`` pairs, or lists of them, like :meth:`StreamingRunner.stream`, and every
    input taken ends with ``(key, END)``. The chunk just before END is the input's whole
    output, as :meth:`Runner.run` gives it (the pool answers requests that did not stream with
    it). ``cancelled(key)`` says that an input's caller left.
    The iterator ends when nothing is left to work on and ``take`` gives nothing.
    """

    def stream_continuous(self, take: Take, cancelled: Cancelled) -> Iterator[StreamItem]:
        """Stream the inputs ``take`` gives, taking more between steps."""
        ...


@runtime_checkable
class StagedRunner(Runner, Protocol):
    """A runner that splits a batch's work into a CPU stage and a model stage.

    The pool calls ``prepare`` for the next batch on a second thread while the model runs the
    current one (``run_prepared``), so pre-processing (tokenizing, decoding, resizing) never
    leaves the model waiting. ``run(batch)`` must equal ``run_prepared(prepare(batch))``: the
    pool uses ``run`` where there is nothing to overlap. ``prepare`` may run at the same time
    as ``run_prepared`` of another batch, so the two must not share state that either changes.
    """

    def prepare(self, batch: Sequence[Any]) -> Any:
        """Pre-process a batch; whatever it returns goes to ``run_prepared``. Raise to fail
        the whole batch."""
        ...

    def run_prepared(self, prepared: Any) -> list[Any]:
        """One output per input of the prepared batch, as :meth:`Runner.run` gives them."""
        ...


@dataclass(frozen=True)
class RunnerType:
    """A runner plugin: its name in the catalog, the tasks it serves, how to make one."""

    name: str
    create: Callable[[], Runner]
    tasks: frozenset[Task]
    description: str
    streaming: bool = False
    joins: bool = False
    """Its runners are :class:`ContinuousRunner`: the pool sends streamed requests to the model
    as they come, without waiting for the batch in the model to finish."""
    options: dict[str, Any] = field(default_factory=dict)
    """Documentation of the ``runner_options`` it accepts: name -> description."""
    features: frozenset[str] = frozenset()
    """What it honours beyond plain generation: ``tools`` (rendered into the prompt),
    ``grammar`` (constrained decoding), ``logprobs`` (see ``GenerationRequest.needs``). The
    inference service refuses a request that needs a feature its model's runner lacks.
    ``adapters``: one model process hosts its base's LoRA adapters side by side, each request
    naming its own (``GenerationRequest.adapter``); the pool then sends every fine-tuned entry
    over that base to one resident (see :mod:`berth.pool.hosting`)."""


def check_options(spec: ModelSpec, runner: str, known: Mapping[str, str]) -> None:
    """Refuse a catalog entry whose ``runner_options`` the runner does not know (at load, so
    a typo is a clear load error rather than an option silently ignored)."""
    unknown = set(spec.options.runner_options) - known.keys()
    if unknown:
        raise errors.ModelLoadFailed(
            f"Model '{spec.alias}': the {runner} runner has no option(s) "
            f"{', '.join(sorted(unknown))}. Known options: {', '.join(sorted(known))}."
        )
