"""The ``embed`` job kind: embeddings for many texts, written as one ``.npy`` artifact.

Input: ``{"texts": [...]}`` or ``{"jsonl": "PATH"}`` (one ``{"text": ...}`` object per line;
a relative path is relative to BERTH_HOME, on the worker that runs the job). The job's
``model`` names the embedding model (default ``all-minilm-l6-v2``).

Output: ``embeddings.npy`` in the job's folder, a float32 array of shape
``(count, dimensions)`` whose row *i* embeds text *i* (``numpy.load`` reads it), and the
result ``{"count", "dimensions", "model", "artifact"}``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib.format import open_memmap
from pydantic import BaseModel, ConfigDict, Field, model_validator

from berth import errors
from berth.hookspecs import Registry
from berth.jobs.context import JobContext
from berth.jobs.kind import JobKind
from berth.jobs.paths import DataRoots, ServerPath
from berth.tasks.embed import EMBED, Embedded, EmbedInput

DEFAULT_MODEL = "all-minilm-l6-v2"
ARTIFACT = "embeddings.npy"
CHUNK = 256
"""Texts per call to the pool: progress is reported after each."""


class EmbedParams(BaseModel):
    """Input of the ``embed`` kind: ``texts`` or ``jsonl``, not both."""

    model_config = ConfigDict(extra="forbid")

    texts: list[str] | None = Field(default=None, min_length=1, description="Texts to embed.")
    jsonl: ServerPath | None = Field(
        default=None,
        description="A JSONL file with one {'text': ...} object per line (relative to "
        "BERTH_HOME unless absolute; under BERTH_HOME or BERTH_DATA_DIRS).",
    )

    @model_validator(mode="after")
    def _one_source(self) -> EmbedParams:
        if (self.texts is None) == (self.jsonl is None):
            raise ValueError("give either 'texts' or 'jsonl'")
        return self


def jsonl_path(roots: DataRoots, name: str, holds: str = '{"text": ...}') -> Path:
    """The JSONL file ``name`` points at; raises InvalidJobInput unless it is an allowed file."""
    return roots.file(name, "JSONL file", f"a file with one {holds} object per line")


def _text(line: str, path: Path, number: int) -> str:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise errors.InvalidJobInput(f"{path} line {number} is not JSON: {exc.msg}.") from None
    text = record.get("text") if isinstance(record, dict) else None
    if not isinstance(text, str):
        raise errors.InvalidJobInput(
            f'{path} line {number} has no "text" string: each line must be {{"text": "..."}}.'
        )
    return text


def read_texts(path: Path) -> Iterator[str]:
    """The texts of a JSONL file in order (blank lines skipped); raises InvalidJobInput on a
    line that is not ``{"text": "..."}``."""
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if line.strip():
                yield _text(line, path, number)


def count_texts(path: Path) -> int:
    """How many texts a JSONL file holds (checking every line)."""
    return sum(1 for _ in read_texts(path))


def chunks(texts: Iterator[str], size: int) -> Iterator[list[str]]:
    chunk: list[str] = []
    for text in texts:
        chunk.append(text)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def as_matrix(outputs: Sequence[Embedded]) -> np.ndarray[Any, np.dtype[np.float32]]:
    """The vectors of one chunk as a 2-D float32 array."""
    return np.stack([np.asarray(out.vector, dtype=np.float32) for out in outputs])


async def embed(ctx: JobContext, params: EmbedParams) -> dict[str, Any]:
    """Embed every text through the model pool, chunk by chunk, into ``embeddings.npy``."""
    alias = ctx.job.model or DEFAULT_MODEL
    ctx.models.check(alias, EMBED)
    if params.texts is not None:
        total, texts = len(params.texts), iter(params.texts)
    else:
        path = jsonl_path(ctx.roots, params.jsonl or "")
        total, texts = await asyncio.to_thread(count_texts, path), read_texts(path)
    if total == 0:
        raise errors.InvalidJobInput(f"There are no texts to embed in {params.jsonl}.")
    output: Any = None
    done = 0
    pending = chunks(texts, CHUNK)
    while (chunk := await asyncio.to_thread(next, pending, None)) is not None:
        ctx.check_cancelled()
        if done + len(chunk) > total:
            raise errors.InvalidJobInput(f"{params.jsonl} grew while the job read it.")
        inputs = [EmbedInput(text=text) for text in chunk]
        matrix = as_matrix(await ctx.models.run(alias, EMBED, inputs))
        if output is None:
            shape = (total, matrix.shape[1])
            output = open_memmap(ctx.output_dir / ARTIFACT, "w+", np.float32, shape)
        output[done : done + len(chunk)] = matrix
        done += len(chunk)
        await ctx.progress(done / total, f"embedded {done} of {total} texts")
    await asyncio.to_thread(output.flush)
    dimensions = int(output.shape[1])
    del output
    await ctx.add_artifact(ARTIFACT, "application/x-npy")
    return {"count": total, "dimensions": dimensions, "model": alias, "artifact": ARTIFACT}


def register(registry: Registry) -> None:
    """Register the kinds that run on models."""
    registry.add_kind(
        JobKind(
            "embed",
            embed,
            "Embeds texts (a list, or a JSONL file of {'text': ...} lines) with the job's "
            f"model (default {DEFAULT_MODEL}) into embeddings.npy: float32, one row per text.",
            input_model=EmbedParams,
            task=EMBED,
            default_model=DEFAULT_MODEL,
        )
    )
