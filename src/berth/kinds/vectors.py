"""The ``vector-ingest`` job kind: one file of a vector store read, chunked and embedded.

Input: ``{"store_id", "file_id"}`` (the vector store service submits it when a file is added;
the job's model is the store's). The file's text (text, Markdown, PDF) is split by the file's
chunking strategy in the model's own tokens, embedded in batches through ``ctx.models`` (the
background lane), and each batch's chunks and vectors are written in one transaction, so an
attempt that dies (kill -9) resumes after the last batch written and embeds nothing twice.
A file Berth cannot read fails in its store with ``last_error``; the job itself succeeds.
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from berth import errors
from berth.hookspecs import Registry
from berth.jobs.context import JobContext
from berth.jobs.kind import JobKind
from berth.tasks.embed import EMBED, Embedded, EmbedInput
from berth.vectors.chunking import Piece, split
from berth.vectors.extract import extract_text
from berth.vectors.record import Chunk
from berth.vectors.writer import IngestSource, VectorWriter

KIND = "vector-ingest"
DEFAULT_MODEL = "all-minilm-l6-v2"
BATCH = 16
"""Chunks per call to the model and per transaction: progress is reported after each."""
LOADING_PAUSE = 1.0


class IngestParams(BaseModel):
    """Input of the ``vector-ingest`` kind."""

    model_config = ConfigDict(extra="forbid")

    store_id: str = Field(min_length=1, max_length=40, description="The vector store.")
    file_id: str = Field(min_length=1, max_length=40, description="The file in it to ingest.")


async def _embedded(ctx: JobContext, model: str, batch: list[Piece]) -> list[Embedded]:
    """The batch's vectors; while the model is still loading (a cold start on a busy host
    can outlast the pool's load wait), wait and ask again rather than fail the file."""
    while True:
        try:
            return await ctx.models.run(model, EMBED, [_input(p) for p in batch])
        except errors.ModelLoading:
            await ctx.sleep(LOADING_PAUSE)


def _input(piece: Piece) -> EmbedInput:
    return EmbedInput(tokens=piece.ids) if piece.ids is not None else EmbedInput(text=piece.text)


async def _pieces(ctx: JobContext, writer: VectorWriter, source: IngestSource) -> list[Piece]:
    text = await asyncio.to_thread(extract_text, source.path, source.filename)
    tokenizer = await asyncio.to_thread(writer.tokenizer, source.model)
    return await asyncio.to_thread(split, text, source.chunking, tokenizer)


async def _embed(
    ctx: JobContext, writer: VectorWriter, source: IngestSource, pieces: list[Piece], start: int
) -> str:
    total = len(pieces)
    for at in range(start, total, BATCH):
        ctx.check_cancelled()
        if not await writer.wanted(source.store_id, source.file_id, source.model):
            return "cancelled"
        batch = pieces[at : at + BATCH]
        outputs = await _embedded(ctx, source.model, batch)
        chunks = [
            Chunk(source.file_id, at + i, p.text, p.tokens, np.asarray(out.vector, np.float32))
            for i, (p, out) in enumerate(zip(batch, outputs, strict=True))
        ]
        await writer.write(source.store_id, source.model, chunks)
        done = at + len(batch)
        await ctx.progress(done / total, f"embedded {done} of {total} chunks")
    return "completed"


async def ingest(ctx: JobContext, params: IngestParams) -> dict[str, Any]:
    """Chunk and embed one file into its store, resuming after the chunks already stored."""
    writer = ctx.vectors
    source = await writer.source(params.store_id, params.file_id)
    if source is None:
        return {"status": "skipped", "reason": "the file left the store or was cancelled"}
    ctx.models.check(source.model, EMBED)
    try:
        pieces = await _pieces(ctx, writer, source)
    except errors.UnsupportedFile as exc:
        failure = {"code": "unsupported_file", "message": exc.message}
        await writer.finish(source.store_id, source.file_id, error=failure)
        return {"status": "failed", "error": failure}
    start = await writer.stored(source.store_id, source.file_id)
    if start:
        ctx.log.info(
            "resuming after the chunks already stored",
            extra={"action": "vectors.resume", "stored": start, "chunks": len(pieces)},
        )
    status = await _embed(ctx, writer, source, pieces, start)
    if status == "completed":
        usage = sum(len(p.text.encode()) for p in pieces)
        await writer.finish(source.store_id, source.file_id, usage_bytes=usage)
    return {
        "status": status,
        "chunks": len(pieces),
        "resumed_after": start,
        "embedded": max(0, len(pieces) - start) if status == "completed" else None,
        "model": source.model,
        "sha256": source.sha256,
    }


def register(registry: Registry) -> None:
    """Register the vector-store kinds."""
    registry.add_kind(
        JobKind(
            KIND,
            ingest,
            "Reads one file of a vector store (text, Markdown, PDF), chunks it by its "
            "chunking strategy and embeds the chunks with the store's model, resumably.",
            input_model=IngestParams,
            task=EMBED,
            default_model=DEFAULT_MODEL,
        )
    )
