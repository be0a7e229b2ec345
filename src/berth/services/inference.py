"""Online inference: embeddings and text generation through the model pool.

The HTTP API (and later the web UI) calls this; it checks that the model exists and does the
task asked, builds the runners' inputs, and nothing on this path writes to the job store.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from berth import errors
from berth.models.spec import ModelSpec
from berth.tasks.embed import Embedded, EmbedInput
from berth.tasks.generate import Generation, GenerationRequest, TextDelta
from berth.tasks.task import Task

GENERATION_TASKS = frozenset({Task.CHAT, Task.COMPLETE, Task.VISION})
EMBEDDING_TASKS = frozenset({Task.EMBED})


class Models(Protocol):
    """The catalog, as inference needs it."""

    def get(self, alias: str) -> ModelSpec: ...

    def specs(self) -> list[ModelSpec]: ...


class Pool(Protocol):
    """The model pool, as inference needs it."""

    def is_ready(self, alias: str) -> bool: ...

    async def load(self, alias: str) -> None: ...

    async def run(self, alias: str, items: Sequence[Any]) -> list[Any]: ...

    def stream(self, alias: str, item: Any) -> AsyncIterator[Any]: ...


@dataclass(frozen=True)
class Embeddings:
    vectors: list[Any]
    tokens: int


class InferenceService:
    """Embeddings and generation for callers; shared by the API and the UI."""

    def __init__(self, catalog: Models, pool: Pool, *, load_wait: float = 30.0) -> None:
        self.catalog = catalog
        self.pool = pool
        self.load_wait = load_wait
        self._loads: dict[str, asyncio.Task[None]] = {}

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

    async def prepare(self, alias: str, tasks: frozenset[Task]) -> ModelSpec:
        """The catalog entry of ``alias``, checked to do one of ``tasks``, once the model is
        loaded (see ``_loaded``). The start of every call into a model."""
        spec = self.model(alias, tasks)
        await self._loaded(alias)
        return spec

    def models(self) -> list[ModelSpec]:
        return self.catalog.specs()

    def model(self, alias: str, tasks: frozenset[Task] | None = None) -> ModelSpec:
        """The catalog entry, checked to do one of ``tasks``."""
        spec = self.catalog.get(alias)
        if tasks is not None and spec.task not in tasks and spec.runner != "echo":
            fitting = sorted(s.alias for s in self.catalog.specs() if s.task in tasks)
            raise errors.InvalidRequest(
                f"Model '{alias}' is a {spec.task} model and cannot do this. "
                f"Models that can: {', '.join(fitting) or 'none in the catalog'}."
            )
        return spec

    def generation_model(self, alias: str, request: GenerationRequest) -> ModelSpec:
        """The catalog entry of a text model, or of a vision model if messages show images."""
        spec = self.model(alias, GENERATION_TASKS)
        images = any(m.images for m in request.messages)
        if images and spec.task is not Task.VISION and spec.runner != "echo":
            fitting = sorted(s.alias for s in self.catalog.specs() if s.task is Task.VISION)
            raise errors.InvalidRequest(
                f"Model '{alias}' is a {spec.task} model and cannot read images. Send "
                f"text only, or use a vision model: {', '.join(fitting) or 'none yet'}."
            )
        return spec

    async def embed(self, alias: str, inputs: Sequence[str | Sequence[int]]) -> Embeddings:
        """One vector per input (text or token ids), with the tokens the model read."""
        self.model(alias, EMBEDDING_TASKS)
        await self._loaded(alias)
        items = [
            EmbedInput(text=value) if isinstance(value, str) else EmbedInput(tokens=tuple(value))
            for value in inputs
        ]
        outputs = await self.pool.run(alias, items)
        vectors, tokens = [], 0
        for output in outputs:
            if isinstance(output, Embedded):
                vectors.append(output.vector)
                tokens += output.tokens
            else:
                vectors.append(output)
        return Embeddings(vectors, tokens)

    async def generate(self, alias: str, request: GenerationRequest) -> Generation:
        """The whole generation at once."""
        self.generation_model(alias, request)
        await self._loaded(alias)
        [output] = await self.pool.run(alias, [request])
        if not isinstance(output, Generation):
            raise errors.ModelError(f"Model '{alias}' did not return a generation.")
        return output

    async def stream(
        self, alias: str, request: GenerationRequest
    ) -> AsyncIterator[TextDelta | Generation]:
        """Text as it is made, then a :class:`Generation` with the finish reason and counts."""
        self.generation_model(alias, request)
        await self._loaded(alias)
        async for chunk in self.pool.stream(alias, request):
            if not isinstance(chunk, TextDelta | Generation):
                raise errors.ModelError(f"Model '{alias}' streamed something other than text.")
            yield chunk
            if isinstance(chunk, Generation):
                return  # this request is done even while others in its batch go on


def _observe(task: asyncio.Task[None]) -> None:
    """Mark a background load's failure as seen: the requests that waited got it already."""
    if not task.cancelled():
        task.exception()
