"""``json_schema`` (Berth's own): the rendered input parses as JSON and, if a ``schema`` is
given, is valid against it (JSON Schema, checked with ``jsonschema``). Scores 1 or 0; a
failure says what was wrong."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

import jsonschema  # type: ignore[import-untyped]
from pydantic import Field, field_validator

from berth.evals.graders.grader import Criterion, Grade, Grader, Scope
from berth.evals.template import render
from berth.tasks.calls import ModelCalls


class JsonSchema(Criterion):
    type: Literal["json_schema"]
    input: str = "{{sample.output_text}}"
    json_schema: dict[str, Any] | None = Field(default=None, alias="schema")

    @field_validator("json_schema")
    @classmethod
    def _valid_schema(cls, schema: dict[str, Any] | None) -> dict[str, Any] | None:
        if schema is not None:
            try:
                jsonschema.Draft202012Validator.check_schema(schema)
            except jsonschema.SchemaError as exc:
                raise ValueError(f"not a JSON Schema: {exc.message}") from None
        return schema

    def templates(self) -> dict[str, str]:
        return {"input": self.input}

    def build(self, models: ModelCalls | None) -> Grader:
        return JsonSchemaGrader(self)


@dataclass(frozen=True)
class JsonSchemaGrader:
    spec: JsonSchema

    async def grade(self, scope: Scope) -> Grade:
        text = render(self.spec.input, scope)
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            return Grade(0.0, False, {"problem": f"not JSON: {exc.msg}"})
        if self.spec.json_schema is not None:
            validator = jsonschema.Draft202012Validator(self.spec.json_schema)
            problem = jsonschema.exceptions.best_match(validator.iter_errors(value))
            if problem is not None:
                where = "/".join(str(p) for p in problem.absolute_path) or "(root)"
                return Grade(0.0, False, {"problem": f"{where}: {problem.message}"})
        return Grade(1.0, True)
