"""Tools and structured output for a chat request: what the request's ``tools``,
``tool_choice``, ``parallel_tool_calls`` and ``response_format`` ask of the model, checked,
as a :class:`ToolPlan`: the tools its prompt shows, the grammar its output must follow
(constrained decoding makes that output valid by construction) and how to read that output
back (text, JSON content, or tool calls; see :mod:`berth.callreader`).

A forced call (a named function, or ``required``) is one JSON object ``{"name": ...,
"arguments": {...}}`` (with ``required`` and parallel calls, a non-empty array of them);
``auto`` lets the model write text and, inside ``<tool_call>...</tool_call>``, calls of the
same form; ``none`` shows no tools and constrains nothing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from berth import errors
from berth.tasks.generate import (
    TOOL_CALL_BEGIN,
    TOOL_CALL_END,
    Grammar,
    JsonGrammar,
    TaggedJsonGrammar,
    ToolSpec,
)

Choice = Literal["none", "auto", "required"] | str
"""``tool_choice``: a mode, or the name of the function the model must call."""
Reading = Literal["text", "calls", "tagged"]
"""How the output reads: as text (JSON content included), as a forced call (or array of
calls), or as text with tagged calls in it."""
ANY_OBJECT = '{"type": "object"}'
EMPTY_PARAMETERS: dict[str, Any] = {"type": "object", "properties": {}}


@dataclass(frozen=True)
class OutputFormat:
    """``response_format``: free text, any JSON object, or JSON that matches a schema."""

    type: Literal["text", "json_object", "json_schema"] = "text"
    schema: dict[str, Any] | None = None


@dataclass(frozen=True)
class ToolPlan:
    """What one chat request asks of the model and how its output reads back."""

    tools: tuple[ToolSpec, ...]
    """The tools its prompt shows."""
    grammar: Grammar | None
    reading: Reading
    parallel: bool = True
    """With ``tagged`` reading: whether more than the first call counts."""

    @property
    def calls_tools(self) -> bool:
        return self.reading != "text"


def plan(
    tools: Sequence[ToolSpec],
    choice: Choice | None,
    parallel: bool,
    output: OutputFormat,
) -> ToolPlan:
    """The checked plan for a request (InvalidRequest naming the field that is wrong)."""
    checked = checked_tools(tools)
    mode = choice if choice is not None else ("auto" if checked else "none")
    if mode != "none" and not checked:
        raise errors.InvalidRequest(
            f"tool_choice is {_shown(mode)} but the request has no tools. Add tools, or leave "
            "tool_choice out."
        )
    if mode not in ("none", "auto", "required"):
        named = [tool for tool in checked if tool.name == mode]
        if not named:
            raise errors.InvalidRequest(
                f"tool_choice names function '{mode}', but tools has no function of that name. "
                f"The tools are: {', '.join(tool.name for tool in checked)}."
            )
        return ToolPlan(checked, JsonGrammar(_dumps(call_schema(named[0]))), "calls")
    if mode == "required":
        return ToolPlan(checked, JsonGrammar(_dumps(calls_schema(checked, parallel))), "calls")
    grammar = output_grammar(output)
    if mode == "auto":
        schema = _dumps(one_of_calls(checked))
        tagged = TaggedJsonGrammar(TOOL_CALL_BEGIN, TOOL_CALL_END, schema, once=not parallel)
        return ToolPlan(checked, tagged, "tagged", parallel)
    return ToolPlan((), grammar, "text")


def output_grammar(output: OutputFormat) -> Grammar | None:
    """The grammar ``response_format`` asks for (None for text)."""
    if output.type == "json_object":
        return JsonGrammar(ANY_OBJECT)
    if output.type == "json_schema":
        if output.schema is None:
            raise errors.InvalidRequest(
                "response_format.json_schema.schema is missing: a json_schema response format "
                'needs {"json_schema": {"name": ..., "schema": {...}}}.'
            )
        check_schema(output.schema, "response_format.json_schema.schema")
        return JsonGrammar(_dumps(output.schema))
    return None


def checked_tools(tools: Sequence[ToolSpec]) -> tuple[ToolSpec, ...]:
    """``tools`` with their parameter schemas checked; names are unique."""
    seen: set[str] = set()
    for index, tool in enumerate(tools):
        field = f"tools[{index}].function"
        if tool.name in seen:
            raise errors.InvalidRequest(
                f"{field}.name '{tool.name}' is used by another tool too. Give each tool its "
                "own name."
            )
        seen.add(tool.name)
        parameters = json.loads(tool.parameters)
        check_schema(parameters, f"{field}.parameters")
        if parameters.get("type", "object") != "object":
            raise errors.InvalidRequest(
                f"{field}.parameters must be a JSON schema of an object "
                f'({{"type": "object", "properties": {{...}}}}), not of type '
                f"'{parameters.get('type')}'."
            )
    return tuple(tools)


def check_schema(schema: Any, field: str) -> None:
    """InvalidRequest naming ``field`` if ``schema`` is not a JSON schema that Berth can
    turn into a grammar."""
    import jsonschema  # type: ignore[import-untyped]
    import xgrammar

    if not isinstance(schema, dict):
        raise errors.InvalidRequest(f"{field} must be a JSON schema object, not {schema!r}.")
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise errors.InvalidRequest(
            f"{field} is not a valid JSON schema: {exc.message}. Fix the schema."
        ) from exc
    try:
        xgrammar.Grammar.from_json_schema(_dumps(schema), any_whitespace=False)
    except (RuntimeError, ValueError, TypeError) as exc:
        raise errors.InvalidRequest(
            f"{field} uses something Berth cannot constrain output to: {exc}. Simplify the schema."
        ) from exc


def call_schema(tool: ToolSpec) -> dict[str, Any]:
    """The JSON schema of one call of ``tool``: its name, then its arguments."""
    return {
        "type": "object",
        "properties": {
            "name": {"const": tool.name},
            "arguments": json.loads(tool.parameters) or EMPTY_PARAMETERS,
        },
        "required": ["name", "arguments"],
        "additionalProperties": False,
    }


def one_of_calls(tools: Sequence[ToolSpec]) -> dict[str, Any]:
    """A call of any one of ``tools``."""
    schemas = [call_schema(tool) for tool in tools]
    return schemas[0] if len(schemas) == 1 else {"anyOf": schemas}


def calls_schema(tools: Sequence[ToolSpec], parallel: bool) -> dict[str, Any]:
    """One call of any of ``tools``; with ``parallel``, a non-empty array of calls."""
    one = one_of_calls(tools)
    return {"type": "array", "items": one, "minItems": 1} if parallel else one


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=False)


def _shown(mode: str) -> str:
    return f"'{mode}'" if mode in ("auto", "required") else f"function '{mode}'"
