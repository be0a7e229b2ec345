"""Submit forms generated from a job kind's input schema, and their answers read back.

Each top-level property of the schema becomes one field: strings and numbers are inputs,
booleans checkboxes, enums selects, lists of strings a textarea with one item per line, and
anything else a textarea of JSON. Errors are kept per field, so the page shows them beside it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pydantic

from berth.jobs.kind import JobKind

INPUT = "input"
"""The one field of a kind without a schema: its whole input as JSON."""


@dataclass
class Field:
    """One form field."""

    name: str
    widget: str
    """text, number, integer, checkbox, select, lines or json."""
    required: bool = False
    description: str = ""
    default: Any = None
    options: list[str] = field(default_factory=list)
    minimum: float | None = None
    maximum: float | None = None
    pattern: str | None = None
    value: str = ""
    error: str | None = None

    @property
    def label(self) -> str:
        return self.name.replace("_", " ").capitalize()


def _plain(schema: Mapping[str, Any]) -> tuple[Mapping[str, Any], bool]:
    """The schema without an ``anyOf [..., null]`` wrapper; and whether null was allowed."""
    choices = schema.get("anyOf")
    if isinstance(choices, list):
        real = [c for c in choices if c.get("type") != "null"]
        if len(real) == 1:
            return {**schema, **real[0]}, len(real) < len(choices)
    return schema, False


def _widget(schema: Mapping[str, Any]) -> str:
    if "enum" in schema:
        return "select"
    kind = schema.get("type")
    if kind == "array" and schema.get("items", {}).get("type") == "string":
        return "lines"
    return {"string": "text", "number": "number", "integer": "integer", "boolean": "checkbox"}.get(
        str(kind), "json"
    )


def _shown(widget: str, value: Any) -> str:
    """A value as the field's text."""
    if value is None:
        return ""
    if widget == "lines" and isinstance(value, list):
        return "\n".join(str(item) for item in value)
    if widget == "json":
        return json.dumps(value, indent=2)
    if widget == "checkbox":
        return "on" if value else ""
    return str(value)


def fields_of(kind: JobKind[Any]) -> list[Field]:
    """The kind's form fields, with their defaults filled in."""
    schema = kind.input_schema()
    if not schema.get("properties"):
        if kind.input_model is not None:
            return []
        return [Field(INPUT, "json", description="The job's input, as JSON (may be empty).")]
    required = set(schema.get("required", ()))
    found = []
    for name, raw in schema["properties"].items():
        plain, _ = _plain(raw)
        widget = _widget(plain)
        entry = Field(
            name=name,
            widget=widget,
            required=name in required,
            description=str(plain.get("description", "")),
            default=plain.get("default"),
            options=[str(option) for option in plain.get("enum", ())],
            minimum=plain.get("minimum"),
            maximum=plain.get("maximum"),
            pattern=plain.get("pattern"),
        )
        entry.value = _shown(widget, entry.default)
        found.append(entry)
    return found


def _read(entry: Field, text: str) -> Any:
    """The value a field's text stands for; raises ValueError saying what is wrong."""
    if entry.widget == "checkbox":
        return text == "on"
    if entry.widget == "number":
        return float(text)
    if entry.widget == "integer":
        return int(text)
    if entry.widget == "lines":
        return [line.strip() for line in text.splitlines() if line.strip()]
    if entry.widget == "json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not valid JSON: {exc.msg} (line {exc.lineno})") from None
    return text


MESSAGES = {"number": "enter a number", "integer": "enter a whole number"}


def read_form(
    kind: JobKind[Any], fields: list[Field], form: Mapping[str, str]
) -> tuple[Any, str | None]:
    """The input the answers make, checked against the kind; errors go onto ``fields``.

    Also answers a message for errors that belong to no one field (None: none).
    """
    data: dict[str, Any] = {}
    for entry in fields:
        text = form.get(entry.name, "")
        entry.value = text
        if text.strip() == "" and entry.widget != "checkbox":
            if entry.required:
                entry.error = "This field is required."
            continue
        try:
            data[entry.name] = _read(entry, text.strip())
        except ValueError as exc:
            entry.error = MESSAGES.get(entry.widget, str(exc)).capitalize() + "."
    value: Any = data.get(INPUT) if kind.input_model is None else data
    return value, _validate(kind, fields, value)


def _validate(kind: JobKind[Any], fields: list[Field], value: Any) -> str | None:
    if kind.input_model is None:
        return None
    try:
        kind.input_model.model_validate(value)
    except pydantic.ValidationError as exc:
        by_name = {entry.name: entry for entry in fields}
        general = []
        for error in exc.errors(include_url=False):
            where = str(error["loc"][0]) if error["loc"] else ""
            message = str(error["msg"]).removeprefix("Value error, ")
            if where in by_name:
                if by_name[where].error is None:
                    by_name[where].error = message[:1].upper() + message[1:] + "."
            else:
                general.append(message)
        return "; ".join(general).capitalize() + "." if general else None
    return None
