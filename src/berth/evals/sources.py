"""A run's data source, as OpenAI's Evals API shapes it: ``jsonl`` (rows from an uploaded
file or given inline, each ``{"item": ..., "sample": ...}``) or ``completions`` (the same rows,
each answered by a catalog model from ``input_messages`` over ``{{item.*}}``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from berth import errors
from berth.evals import template
from berth.evals.template import render
from berth.tasks.generate import ChatMessage, GenerationRequest


class Loose(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Row(Loose):
    item: dict[str, Any]
    sample: dict[str, Any] | None = None


class FileContent(Loose):
    type: Literal["file_content"]
    content: list[Row] = Field(min_length=1)


class FileId(Loose):
    type: Literal["file_id"]
    id: str = Field(min_length=1)


Source = Annotated[FileContent | FileId, Field(discriminator="type")]


class TemplateMessage(Loose):
    role: Literal["user", "assistant", "system", "developer"]
    content: str | dict[str, Any] | list[dict[str, Any]]

    def text(self) -> str:
        parts = self.content if isinstance(self.content, list) else [self.content]
        out = []
        for part in parts:
            if isinstance(part, str):
                out.append(part)
            elif part.get("type") in ("input_text", "output_text") and "text" in part:
                out.append(str(part["text"]))
            else:
                raise ValueError(f"Berth's models read text parts only, not {part.get('type')!r}")
        return "".join(out)

    @pydantic.model_validator(mode="after")
    def _text(self) -> TemplateMessage:
        self.text()
        return self


class Template(Loose):
    type: Literal["template"]
    template: list[TemplateMessage] = Field(min_length=1)


class ItemReference(Loose):
    type: Literal["item_reference"]
    item_reference: str = Field(pattern=r"^item\.[\w.]+$")


class SamplingParams(Loose):
    temperature: float = Field(default=1.0, ge=0, le=2)
    top_p: float = Field(default=1.0, gt=0, le=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    seed: int | None = None


class Jsonl(Loose):
    type: Literal["jsonl"]
    source: Source


class Completions(Loose):
    type: Literal["completions"]
    source: Source
    model: str = Field(min_length=1)
    input_messages: Annotated[Template | ItemReference, Field(discriminator="type")]
    sampling_params: SamplingParams = SamplingParams()

    def templates(self) -> dict[str, str]:
        if isinstance(self.input_messages, ItemReference):
            return {
                "input_messages.item_reference": "{{" + self.input_messages.item_reference + "}}"
            }
        return {
            f"input_messages.template[{i}].content": m.text()
            for i, m in enumerate(self.input_messages.template)
        }

    def messages(self, item: dict[str, Any]) -> list[ChatMessage]:
        """The conversation the model answers for ``item``."""
        scope = {"item": item}
        if isinstance(self.input_messages, Template):
            return [
                ChatMessage(m.role, render(m.text(), scope)) for m in self.input_messages.template
            ]
        found = template.lookup(scope, self.input_messages.item_reference)
        try:
            return [
                ChatMessage(m.role, m.text())
                for m in pydantic.TypeAdapter(list[TemplateMessage]).validate_python(found)
            ]
        except pydantic.ValidationError:
            raise errors.InvalidRequest(
                f"{self.input_messages.item_reference} is not a list of {{role, content}} messages."
            ) from None

    def request(self, item: dict[str, Any]) -> GenerationRequest:
        params = self.sampling_params
        return GenerationRequest(
            messages=tuple(self.messages(item)),
            max_tokens=params.max_completion_tokens,
            temperature=params.temperature,
            top_p=params.top_p,
            seed=params.seed,
        )


DataSource = Annotated[Jsonl | Completions, Field(discriminator="type")]
_ADAPTER: pydantic.TypeAdapter[Jsonl | Completions] = pydantic.TypeAdapter(DataSource)
KINDS = ("completions", "jsonl")


def data_source_of(data: Any) -> Jsonl | Completions:
    """A run's data source, checked; InvalidRequest naming ``data_source.FIELD``."""
    kind = data.get("type") if isinstance(data, dict) else None
    if kind not in KINDS:
        raise errors.InvalidRequest(
            f"data_source.type: {kind!r} is not a data source Berth runs. Use jsonl (rows from "
            "a file or inline) or completions (a catalog model answers each row)."
        )
    try:
        return _ADAPTER.validate_python(data)
    except pydantic.ValidationError as exc:
        problem = exc.errors(include_url=False)[0]
        path = ".".join(str(p) for p in problem["loc"][1:])
        message = problem["msg"].removeprefix("Value error, ")
        raise errors.InvalidRequest(f"data_source.{path}: {message}.") from None
