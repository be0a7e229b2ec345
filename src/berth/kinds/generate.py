"""The ``generate`` job kind: text generation for many prompts or conversations.

Input: ``{"prompts": [...]}``, ``{"messages_list": [[{"role", "content"}, ...], ...]}`` or
``{"jsonl": "PATH"}`` (one ``{"prompt": ...}`` or ``{"messages": [...]}`` object per line;
a relative path is relative to BERTH_HOME, on the worker that runs the job), with sampling
settings (``max_tokens``, ``temperature``, ``top_p``, ``stop``, ``seed``). The job's ``model``
names a chat or completion model; there is no default.

Output: ``generations.jsonl`` in the job's folder, line *i* answering item *i*:
``{"index", "text", "finish_reason", "prompt_tokens", "completion_tokens"}``, or
``{"index", "error"}`` for an item the model refused (a prompt too long for its context).
The result counts items, failures and tokens. With a ``seed``, item *i* samples with
``seed + i``, so a rerun gives the same texts.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from berth import errors
from berth.hookspecs import Registry
from berth.jobs.context import JobContext
from berth.jobs.kind import JobKind
from berth.jobs.paths import ServerPath
from berth.kinds.embed import jsonl_path
from berth.tasks.generate import GENERATE, ChatMessage, Generation, GenerationRequest

ARTIFACT = "generations.jsonl"
IN_FLIGHT = 64
"""Items handed to the pool at once (it batches them); more wait their turn."""


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: str


class GenerateParams(BaseModel):
    """Input of the ``generate`` kind: one of ``prompts``, ``messages_list``, ``jsonl``."""

    model_config = ConfigDict(extra="forbid")

    prompts: list[str] | None = Field(default=None, min_length=1, description="Prompts.")
    messages_list: list[list[Message]] | None = Field(
        default=None, min_length=1, description="Conversations, one per item."
    )
    jsonl: ServerPath | None = Field(
        default=None,
        description="A JSONL file with one {'prompt': ...} or {'messages': [...]} object per "
        "line (relative to BERTH_HOME unless absolute; under BERTH_HOME or BERTH_DATA_DIRS).",
    )
    max_tokens: int | None = Field(default=None, ge=1, description="Most tokens per item.")
    temperature: float = Field(default=1.0, ge=0, le=2)
    top_p: float = Field(default=1.0, gt=0, le=1)
    stop: list[str] = Field(default_factory=list, max_length=4)
    seed: int | None = Field(default=None, description="Item i samples with seed + i.")

    @model_validator(mode="after")
    def _one_source(self) -> GenerateParams:
        given = [self.prompts, self.messages_list, self.jsonl]
        if sum(value is not None for value in given) != 1:
            raise ValueError("give exactly one of 'prompts', 'messages_list' or 'jsonl'")
        return self

    def request(self, index: int, item: str | list[Message]) -> GenerationRequest:
        """The generation request for item ``index``."""
        settings: dict[str, Any] = {
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "stop": tuple(self.stop),
            "seed": None if self.seed is None else self.seed + index,
        }
        if isinstance(item, str):
            return GenerationRequest(prompt=item, **settings)
        messages = tuple(ChatMessage(m.role, m.content) for m in item)
        return GenerationRequest(messages=messages, **settings)


def _item(line: str, path: Path, number: int) -> str | list[Message]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise errors.InvalidJobInput(f"{path} line {number} is not JSON: {exc.msg}.") from None
    if isinstance(record, dict) and isinstance(record.get("prompt"), str):
        return str(record["prompt"])
    messages = record.get("messages") if isinstance(record, dict) else None
    if isinstance(messages, list) and messages:
        try:
            return [Message.model_validate(m) for m in messages]
        except ValueError:
            pass
    raise errors.InvalidJobInput(
        f'{path} line {number} has no "prompt" string and no "messages" list of '
        '{"role": ..., "content": ...} objects.'
    )


def read_items(path: Path) -> list[str | list[Message]]:
    """The items of a JSONL file in order (blank lines skipped)."""
    items: list[str | list[Message]] = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if line.strip():
                items.append(_item(line, path, number))
    return items


async def items_of(ctx: JobContext, params: GenerateParams) -> list[str | list[Message]]:
    if params.prompts is not None:
        return list(params.prompts)
    if params.messages_list is not None:
        return list(params.messages_list)
    path = jsonl_path(ctx.roots, params.jsonl or "", '{"prompt": ...} or {"messages": [...]}')
    items = await asyncio.to_thread(read_items, path)
    if not items:
        raise errors.InvalidJobInput(f"There are no prompts to generate from in {path}.")
    return items


def record(index: int, output: Generation | errors.InvalidRequest) -> dict[str, Any]:
    """One line of ``generations.jsonl``."""
    if isinstance(output, errors.InvalidRequest):
        return {"index": index, "error": output.message}
    return {
        "index": index,
        "text": output.text,
        "finish_reason": output.finish_reason,
        "prompt_tokens": output.prompt_tokens,
        "completion_tokens": output.completion_tokens,
    }


class Writer:
    """Writes records in item order as they finish (in any order)."""

    def __init__(self, path: Path) -> None:
        self._file = path.open("w", encoding="utf-8")
        self._waiting: dict[int, dict[str, Any]] = {}
        self._next = 0
        self.totals = {"failed": 0, "prompt_tokens": 0, "completion_tokens": 0}

    def add(self, line: dict[str, Any]) -> None:
        self.totals["failed"] += "error" in line
        self.totals["prompt_tokens"] += line.get("prompt_tokens", 0)
        self.totals["completion_tokens"] += line.get("completion_tokens", 0)
        self._waiting[line["index"]] = line
        while self._next in self._waiting:
            self._file.write(json.dumps(self._waiting.pop(self._next)) + "\n")
            self._next += 1

    def close(self) -> None:
        self._file.close()


async def generate(ctx: JobContext, params: GenerateParams) -> dict[str, Any]:
    """Generate for every item through the model pool into ``generations.jsonl``."""
    alias = ctx.job.model
    if not alias:
        raise errors.InvalidJobInput(
            "A generate job needs a model: set the job's model to a chat or completion model "
            "(`berth models ls` lists them)."
        )
    ctx.models.check(alias, GENERATE)
    items = await items_of(ctx, params)
    writer = Writer(ctx.output_dir / ARTIFACT)
    try:
        await _run_all(ctx, alias, params, items, writer)
    finally:
        writer.close()
    await ctx.add_artifact(ARTIFACT, "application/jsonl")
    return {"count": len(items), **writer.totals, "model": alias, "artifact": ARTIFACT}


async def _run_all(
    ctx: JobContext,
    alias: str,
    params: GenerateParams,
    items: list[str | list[Message]],
    writer: Writer,
) -> None:
    gate = asyncio.Semaphore(IN_FLIGHT)
    finished = 0

    async def one(index: int, item: str | list[Message]) -> None:
        async with gate:
            ctx.check_cancelled()
            output: Generation | errors.InvalidRequest
            try:
                [output] = await ctx.models.run(alias, GENERATE, [params.request(index, item)])
            except errors.InvalidRequest as exc:  # this item only (a prompt past the context)
                output = exc
            writer.add(record(index, output))
            nonlocal finished
            finished += 1
            await ctx.progress(finished / len(items), f"generated {finished} of {len(items)}")

    async with asyncio.TaskGroup() as group:
        for index, item in enumerate(items):
            group.create_task(one(index, item))


def register(registry: Registry) -> None:
    """Register the kind."""
    registry.add_kind(
        JobKind(
            "generate",
            generate,
            "Generates text for many prompts or conversations (a list, or a JSONL file) with "
            "the job's model into generations.jsonl, one line per item, in order.",
            input_model=GenerateParams,
            task=GENERATE,
        )
    )
