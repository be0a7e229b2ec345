"""The job kind ``ocr``: text in image files.

Input: ``{"files": ["scan-1.png", ...]}`` (paths on the worker that runs the job; relative
ones are relative to BERTH_HOME). The job's ``model`` names the OCR model (default
``rapidocr``).

Output, per file *i* (from 1) with stem *s*: ``NNN-s.json`` (``{"model", "file", "text",
"lines": [{"text", "confidence", "box"}], "width", "height"}``) and ``NNN-s.txt`` (its lines,
one per line); the result lists them: ``{"model", "count", "files": [{"file", "json",
"text", "lines"}]}``. Progress is reported after each file.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from berth import errors
from berth.hookspecs import Registry
from berth.jobs.context import JobContext
from berth.jobs.kind import JobKind
from berth.jobs.paths import ServerPath
from berth.media.images import MAX_IMAGE_BYTES
from berth.services.ocr import DEFAULT_MODEL, checked_request, document
from berth.tasks.ocr import OCR

MAX_FILES = 10_000


class OcrParams(BaseModel):
    """Input of the ``ocr`` kind."""

    model_config = ConfigDict(extra="forbid")

    files: list[ServerPath] = Field(
        min_length=1,
        max_length=MAX_FILES,
        description="Image files to read (relative to BERTH_HOME unless absolute; under "
        "BERTH_HOME or BERTH_DATA_DIRS).",
    )


def artifact_stem(index: int, path: Path) -> str:
    """A safe, unique artifact name stem for the ``index``-th file (from 1)."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", path.stem).strip("._") or "image"
    return f"{index:03d}-{stem[:80]}"


def read_image(path: Path) -> bytes:
    """A file's bytes; InvalidJobInput past the image size limit (without reading it)."""
    size = path.stat().st_size
    if size > MAX_IMAGE_BYTES:
        raise errors.InvalidJobInput(
            f"{path} is {size} bytes; Berth reads images of at most {MAX_IMAGE_BYTES}. "
            "Scale it down or compress it."
        )
    return path.read_bytes()


async def read_one(ctx: JobContext, alias: str, path: Path) -> dict[str, Any]:
    """One file read by the model: its JSON document."""
    data = await asyncio.to_thread(read_image, path)
    try:
        request = await checked_request(data)
    except errors.InvalidRequest as exc:
        raise errors.InvalidJobInput(f"{path}: {exc.message}") from exc
    [result] = await ctx.models.run(alias, OCR, [request])
    return {"file": str(path), **document(alias, result)}


async def write_outputs(ctx: JobContext, stem: str, found: dict[str, Any]) -> None:
    """The JSON and text artifacts of one file."""
    text = found["text"] + "\n" if found["text"] else ""
    await asyncio.to_thread(
        (ctx.output_dir / f"{stem}.json").write_text, json.dumps(found, indent=2) + "\n"
    )
    await asyncio.to_thread((ctx.output_dir / f"{stem}.txt").write_text, text, "utf-8")
    await ctx.add_artifact(f"{stem}.json", "application/json")
    await ctx.add_artifact(f"{stem}.txt", "text/plain")


async def ocr(ctx: JobContext, params: OcrParams) -> dict[str, Any]:
    """Read every file through the model pool, one after the other."""
    alias = ctx.job.model or DEFAULT_MODEL
    ctx.models.check(alias, OCR)
    paths = [ctx.roots.file(name, "image", "an image file") for name in params.files]
    files = []
    for index, path in enumerate(paths, start=1):
        ctx.check_cancelled()
        found = await read_one(ctx, alias, path)
        stem = artifact_stem(index, path)
        await write_outputs(ctx, stem, found)
        files.append(
            {
                "file": str(path),
                "json": f"{stem}.json",
                "text": f"{stem}.txt",
                "lines": len(found["lines"]),
            }
        )
        await ctx.progress(index / len(paths), f"read {index} of {len(paths)} images")
    return {"model": alias, "count": len(paths), "files": files}


def register(registry: Registry) -> None:
    """Register the kind."""
    registry.add_kind(
        JobKind(
            "ocr",
            ocr,
            "Reads the text in image files with the job's model (default "
            f"{DEFAULT_MODEL}): a JSON file (lines, boxes, confidences) and a text file per "
            "image.",
            input_model=OcrParams,
            task=OCR,
            default_model=DEFAULT_MODEL,
        )
    )
