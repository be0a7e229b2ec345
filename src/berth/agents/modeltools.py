"""Berth's own models as tools: embed, transcribe, OCR and image, through ``ModelCalls``.

Each takes the catalog alias of the model to use as ``model``; the call goes through the
agent's ``ctx.models``, so the key's allowlist and the task are checked as for any caller.
"""

from __future__ import annotations

import base64
from typing import Any

from berth import errors
from berth.agents.tool import JsonObject, Tool, ToolContext
from berth.media.audio import decode_audio
from berth.media.images import image_bytes
from berth.tasks.calls import ModelCalls
from berth.tasks.embed import EMBED, EmbedInput
from berth.tasks.image import IMAGE, ImageRequest
from berth.tasks.ocr import OCR, OcrRequest
from berth.tasks.transcribe import TRANSCRIBE, TranscriptionRequest


def _models(ctx: ToolContext, tool: str) -> ModelCalls:
    if ctx.models is None:
        raise errors.ToolFailed(f"The tool '{tool}' needs Berth's models; this run has none.")
    return ctx.models


def _schema(**properties: JsonObject) -> JsonObject:
    return {
        "type": "object",
        "properties": {"model": {"type": "string", "minLength": 1}, **properties},
        "required": ["model", *properties],
        "additionalProperties": False,
    }


async def embed(arguments: JsonObject, ctx: ToolContext) -> Any:
    """The embedding of ``text``."""
    [out] = await _models(ctx, "embed").run(
        arguments["model"], EMBED, [EmbedInput(text=arguments["text"])]
    )
    return {"embedding": [float(x) for x in out.vector], "tokens": out.tokens}


async def transcribe(arguments: JsonObject, ctx: ToolContext) -> Any:
    """The transcript of ``audio`` (an audio file, base64)."""
    audio = decode_audio(base64.b64decode(arguments["audio"]), name="The audio argument")
    [out] = await _models(ctx, "transcribe").run(
        arguments["model"], TRANSCRIBE, [TranscriptionRequest(samples=audio.samples)]
    )
    return {"text": out.text, "language": out.language, "duration": out.duration}


async def ocr(arguments: JsonObject, ctx: ToolContext) -> Any:
    """The text lines in ``image`` (base64 or a data URL)."""
    [out] = await _models(ctx, "ocr").run(
        arguments["model"], OCR, [OcrRequest(image=image_bytes(arguments["image"]))]
    )
    return {"text": "\n".join(line.text for line in out.lines), "lines": len(out.lines)}


async def image(arguments: JsonObject, ctx: ToolContext) -> Any:
    """An image made from ``prompt``, as base64 PNG."""
    request = ImageRequest(prompt=arguments["prompt"])
    [out] = await _models(ctx, "image").run(arguments["model"], IMAGE, [request])
    return {"png_base64": base64.b64encode(out.pngs[0]).decode(), "seed": out.seed}


_STRING = {"type": "string", "minLength": 1}

MODEL_TOOLS = (
    Tool(
        "embed",
        "Embed a text with a Berth model.",
        _schema(text=_STRING),
        call=embed,
        idempotent=True,
    ),
    Tool(
        "transcribe",
        "Transcribe speech (an audio file, base64) with a Berth model.",
        _schema(audio=_STRING),
        call=transcribe,
        timeout_s=120.0,
        idempotent=True,
    ),
    Tool(
        "ocr",
        "Read the text in an image (base64) with a Berth model.",
        _schema(image=_STRING),
        call=ocr,
        timeout_s=60.0,
        idempotent=True,
    ),
    Tool(
        "image",
        "Make an image from a prompt with a Berth model.",
        _schema(prompt=_STRING),
        call=image,
        timeout_s=300.0,
        idempotent=False,
    ),
)
"""The model tools, each idempotent but ``image`` (a seedless image differs every time)."""
