"""The one way into the models, for online requests and jobs alike.

Every call names a model and a :class:`~berth.tasks.task.ModelTask`. Before anything runs, the
service checks that the catalog has the model, that the caller's key may use it, and that it
does the task; after, that each answer is what the task gives. Then a cold model is loaded
(waiting up to ``load_wait``), and the items go to the pool: online requests in its first lane,
a job's calls (through :meth:`InferenceService.for_jobs`) in the background lane. Nothing on
this path writes to the job store.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import numpy as np

from berth import errors
from berth.keys.key import ApiKey
from berth.models.spec import ModelSpec
from berth.services.keys import KeyService
from berth.tasks.embed import EMBED, EmbedInput
from berth.tasks.generate import GENERATE, Generation, GenerationRequest, TextDelta
from berth.tasks.task import ModelTask, Task

Out = TypeVar("Out")
Vector = np.ndarray[Any, np.dtype[np.float32]]


class Catalog(Protocol):
    """The catalog, as inference needs it."""

    def get(self, alias: str) -> ModelSpec: ...

    def specs(self) -> list[ModelSpec]: ...


class Pool(Protocol):
    """The model pool, as inference needs it."""

    def is_ready(self, alias: str) -> bool: ...

    async def load(self, alias: str) -> None: ...

    async def run(
        self, alias: str, items: Sequence[object], *, background: bool = False
    ) -> list[object]: ...

    def stream(
        self, alias: str, item: object, *, background: bool = False
    ) -> AsyncIterator[object]: ...


@dataclass(frozen=True)
class Embeddings:
    """One float32 vector per input, and the tokens the model read."""

    vectors: list[Vector]
    tokens: int


class InferenceService:
    """Models for callers (see the module doc); shared by the API, the UI, jobs and the
    capabilities built on them (graders, tools, sessions)."""

    def __init__(
        self,
        catalog: Catalog,
        pool: Pool,
        *,
        load_wait: float = 30.0,
        features: Mapping[str, frozenset[str]] | None = None,
    ) -> None:
        self.catalog = catalog
        self.pool = pool
        self.load_wait = load_wait
        self.features = dict(features or {})
        """Per runner name, what its runners honour (``RunnerType.features``)."""
        self._loads: dict[str, asyncio.Task[None]] = {}

    # -- checks ----------------------------------------------------------------------------

    def model(self, caller: ApiKey | None, alias: str, task: ModelTask[Any]) -> ModelSpec:
        """The catalog entry of ``alias``, checked: the caller's key may use it (403) and it
        does ``task`` (400, naming the models that do)."""
        spec = self.catalog.get(alias)
        KeyService.check_model(caller, alias)
        if not task.accepts(spec.task, spec.runner):
            fitting = sorted(s.alias for s in self.catalog.specs() if s.task in task.tasks)
            raise errors.InvalidRequest(
                f"Model '{alias}' is {a_task(spec.task)} model and cannot make {task.name}. "
                f"Models that can: {', '.join(fitting) or 'none in the catalog'}."
            )
        return spec

    async def prepare(self, caller: ApiKey | None, alias: str, task: ModelTask[Any]) -> ModelSpec:
        """:meth:`model`, then the model loaded (see :meth:`_loaded`): the start of a call."""
        spec = self.model(caller, alias, task)
        await self._loaded(alias)
        return spec

    def models(self) -> list[ModelSpec]:
        return self.catalog.specs()

    def catalog_entry(self, alias: str) -> ModelSpec:
        """The catalog entry of ``alias``; UnknownModel (404) if there is none."""
        return self.catalog.get(alias)

    async def _loaded(self, alias: str) -> None:
        """Wait up to ``load_wait`` for a cold model; past that, ModelLoading (503) while the
        load goes on in the background for the requests that follow."""
        if self.pool.is_ready(alias):
            return
        load = self._loads.get(alias)
        if load is None or load.done():
            load = asyncio.create_task(self.pool.load(alias))
            load.add_done_callback(_observe)
            self._loads[alias] = load
        try:
            await asyncio.wait_for(asyncio.shield(load), self.load_wait)
        except TimeoutError:
            raise errors.ModelLoading(
                f"Model '{alias}' is still loading. Try again in a few seconds."
            ) from None

    # -- calls -----------------------------------------------------------------------------

    async def run(
        self,
        caller: ApiKey | None,
        alias: str,
        task: ModelTask[Out],
        items: Sequence[object],
        *,
        background: bool = False,
    ) -> list[Out]:
        """One output of ``task`` per item from the model ``alias``, batched with others."""
        await self.prepare(caller, alias, task)
        outputs = await self.pool.run(alias, items, background=background)
        return [task.checked(alias, output) for output in outputs]

    async def stream(
        self,
        caller: ApiKey | None,
        alias: str,
        task: ModelTask[Any],
        item: object,
        *,
        background: bool = False,
    ) -> AsyncIterator[object]:
        """The chunks ``task`` streams for ``item``, ending with its output. Leaving early
        stops the model's work on it at its next step."""
        await self.prepare(caller, alias, task)
        chunks = self.pool.stream(alias, item, background=background)
        try:
            async for chunk in chunks:
                yield task.checked_chunk(alias, chunk)
                if isinstance(chunk, task.output):
                    return  # this input is done even while others in its batch go on
        finally:
            if isinstance(chunks, AsyncGenerator):
                await chunks.aclose()
        raise errors.ModelError(f"Model '{alias}' ended its stream without {task.name}.")

    def calls(self, caller: ApiKey | None, *, background: bool = False) -> Calls:
        """The models as one caller calls them (see :class:`Calls`)."""
        return Calls(self, caller, background)

    def for_jobs(self) -> Calls:
        """The models as a job calls them: no key (its submit was checked), background lane."""
        return Calls(self, None, background=True)

    # -- the OpenAI endpoints' calls -------------------------------------------------------

    async def embed(
        self,
        caller: ApiKey | None,
        alias: str,
        inputs: Sequence[str | Sequence[int]],
        *,
        dimensions: int | None = None,
    ) -> Embeddings:
        """One vector per input (text, or token ids the model reads as they are), with the
        tokens the model read. ``dimensions`` keeps each vector's first that many values,
        scaled back to unit length (as OpenAI's shortened embeddings are)."""
        items = [
            EmbedInput(text=value) if isinstance(value, str) else EmbedInput(tokens=tuple(value))
            for value in inputs
        ]
        outputs = await self.run(caller, alias, EMBED, items)
        vectors = [np.asarray(out.vector, dtype=np.float32) for out in outputs]
        if dimensions is not None:
            vectors = [shortened(alias, vector, dimensions) for vector in vectors]
        return Embeddings(vectors, sum(out.tokens for out in outputs))

    def generation_model(
        self, caller: ApiKey | None, alias: str, request: GenerationRequest
    ) -> ModelSpec:
        """The catalog entry of a text model, or of a vision model if messages show images."""
        spec = self.model(caller, alias, GENERATE)
        images = any(m.images for m in request.messages)
        if images and spec.task is not Task.VISION and spec.runner != "echo":
            fitting = sorted(s.alias for s in self.catalog.specs() if s.task is Task.VISION)
            raise errors.InvalidRequest(
                f"Model '{alias}' is {a_task(spec.task)} model and cannot read images. Send "
                f"text only, or use a vision model: {', '.join(fitting) or 'none yet'}."
            )
        self.check_features(spec, request)
        return spec

    def check_features(self, spec: ModelSpec, request: GenerationRequest) -> None:
        """Refuse (400) a request that needs what the model's runner cannot do: tools,
        a grammar (``response_format``, a forced tool), logprobs."""
        missing = request.needs() - self.features.get(spec.runner, frozenset())
        if not missing:
            return
        able = sorted(
            s.alias
            for s in self.catalog.specs()
            if s.task in GENERATE.tasks
            and request.needs() <= self.features.get(s.runner, frozenset())
        )
        raise errors.InvalidRequest(
            f"Model '{spec.alias}' (runner '{spec.runner}') cannot do "
            f"{', '.join(FEATURE_FIELDS[name] for name in sorted(missing))}. Send the request "
            f"without them, or use a model that can: {', '.join(able) or 'none in the catalog'}."
        )

    async def generate(
        self, caller: ApiKey | None, alias: str, request: GenerationRequest
    ) -> Generation:
        """The whole generation at once."""
        self.generation_model(caller, alias, request)
        [output] = await self.run(caller, alias, GENERATE, [request])
        return output

    async def stream_text(
        self, caller: ApiKey | None, alias: str, request: GenerationRequest
    ) -> AsyncIterator[TextDelta | Generation]:
        """Text as it is made, then a :class:`Generation` with the finish reason and counts."""
        self.generation_model(caller, alias, request)
        async for chunk in self.stream(caller, alias, GENERATE, request):
            assert isinstance(chunk, TextDelta | Generation)
            yield chunk


class Calls:
    """:class:`~berth.tasks.calls.ModelCalls` for one caller: its key checked on each call,
    in the pool's first lane or (``background``, for jobs) after online requests."""

    def __init__(self, inference: InferenceService, caller: ApiKey | None, background: bool):
        self._inference, self._caller, self._background = inference, caller, background

    def check(self, alias: str, task: ModelTask[Any]) -> None:
        self._inference.model(self._caller, alias, task)

    async def run(self, alias: str, task: ModelTask[Out], items: Sequence[object]) -> list[Out]:
        return await self._inference.run(
            self._caller, alias, task, items, background=self._background
        )

    def stream(self, alias: str, task: ModelTask[Any], item: object) -> AsyncIterator[object]:
        return self._inference.stream(self._caller, alias, task, item, background=self._background)


FEATURE_FIELDS = {
    "tools": "tools (the tools field, tool messages)",
    "grammar": "constrained output (response_format json_object or json_schema, or a forced "
    "tool_choice)",
    "logprobs": "logprobs",
}


def a_task(task: Task) -> str:
    """``task`` with its article: "an embed", "a chat"."""
    return f"{'an' if task.value[0] in 'aeiou' else 'a'} {task.value}"


def shortened(alias: str, vector: Vector, dimensions: int) -> Vector:
    """``vector``'s first ``dimensions`` values at unit length; InvalidRequest past its size."""
    if dimensions > vector.shape[-1]:
        raise errors.InvalidRequest(
            f"dimensions is {dimensions} but model '{alias}' makes {vector.shape[-1]}-"
            "dimensional vectors. Ask for at most that many."
        )
    cut = vector[:dimensions]
    norm = float(np.linalg.norm(cut))
    return cut / np.float32(norm) if norm > 0 else cut


def _observe(task: asyncio.Task[None]) -> None:
    """Mark a background load's failure as seen: the requests that waited got it already."""
    if not task.cancelled():
        task.exception()
