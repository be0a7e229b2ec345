"""The playground: try each kind of model from the browser.

Each tool is one page whose script calls the OpenAI-compatible endpoint for it; the model
picker lists the catalog entries of the tool's task.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import Response

from berth import errors
from berth.http.runtime import services
from berth.keys.key import Scope
from berth.tasks.task import Task
from berth.web.access import Visitor
from berth.web.render import page, shown

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class Tool:
    name: str
    title: str
    tasks: tuple[Task, ...]
    endpoint: str
    blurb: str


TOOLS = (
    Tool("chat", "Chat", (Task.CHAT,), "/v1/chat/completions", "Chat; the reply streams in."),
    Tool("embed", "Similarity", (Task.EMBED,), "/v1/embeddings", "Cosine similarity of two texts."),
    Tool("image", "Image", (Task.IMAGE,), "/v1/images/generations", "An image from a prompt."),
    Tool("speak", "Speech", (Task.SPEAK,), "/v1/audio/speech", "Speech from text."),
    Tool(
        "transcribe",
        "Transcription",
        (Task.TRANSCRIBE,),
        "/v1/audio/transcriptions",
        "Text from an uploaded audio file.",
    ),
    Tool("ocr", "OCR", (Task.OCR,), "/v1/ocr", "Text from an uploaded image."),
    Tool("voice", "Voice", (Task.CHAT,), "/v1/realtime", "Talk with a chat model."),
)
BY_NAME = {tool.name: tool for tool in TOOLS}


@router.get("/playground")
async def playground_index(request: Request) -> Response:
    async def build(who: Visitor) -> Response:
        return page(request, who, "playground_index.html", {"title": "Playground", "tools": TOOLS})

    return await shown(request, Scope.INFER, build)


@router.get("/playground/{name}")
async def playground_tool(name: str, request: Request) -> Response:
    async def build(who: Visitor) -> Response:
        tool = BY_NAME.get(name)
        if tool is None:
            raise errors.InvalidRequest(
                f"There is no playground tool '{name}'. Try one of: {', '.join(BY_NAME)}."
            )
        specs = services(request).inference.models()
        models = [s.alias for s in specs if s.task in tool.tasks]
        allowed = who.key.models if who.key is not None else None
        if allowed is not None:
            models = [alias for alias in models if alias in allowed]
        context = {"title": f"Playground: {tool.title}", "tool": tool, "models": models}
        return page(request, who, f"play_{tool.name}.html", context)

    return await shown(request, Scope.INFER, build)
