"""Graders, one module per family: OpenAI's ``string_check``, ``text_similarity``,
``label_model`` and ``score_model``, and Berth's own ``json_schema``, ``regex``,
``error_rate``, ``latency`` and ``embedding_similarity``.

:func:`criteria_of` checks an eval's ``testing_criteria`` (a 400 naming the criterion and its
field) and gives each as its family's :class:`~berth.evals.graders.grader.Criterion`.
"""

from __future__ import annotations

from typing import Annotated, Any

import pydantic

from berth import errors
from berth.evals.graders.embedding import EmbeddingSimilarity
from berth.evals.graders.error_rate import ErrorRate
from berth.evals.graders.grader import Criterion, Grade, Grader
from berth.evals.graders.json_schema import JsonSchema
from berth.evals.graders.latency import Latency
from berth.evals.graders.model_judge import LabelModel, ScoreModel
from berth.evals.graders.regex import Regex
from berth.evals.graders.string_check import StringCheck
from berth.evals.graders.text_similarity import TextSimilarity

__all__ = ["FAMILIES", "Criterion", "Grade", "Grader", "criteria_of"]

FAMILIES: tuple[type[Criterion], ...] = (
    StringCheck, TextSimilarity, LabelModel, ScoreModel,
    JsonSchema, Regex, ErrorRate, Latency, EmbeddingSimilarity,
)  # fmt: skip
TYPES = sorted(family.model_fields["type"].annotation.__args__[0] for family in FAMILIES)  # type: ignore[union-attr]
AnyCriterion = Annotated[
    StringCheck
    | TextSimilarity
    | LabelModel
    | ScoreModel
    | JsonSchema
    | Regex
    | ErrorRate
    | Latency
    | EmbeddingSimilarity,
    pydantic.Field(discriminator="type"),
]
_ADAPTER: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(AnyCriterion)


def criterion_of(data: Any, where: str) -> Criterion:
    """One testing criterion, checked; InvalidRequest naming ``where`` and the field."""
    kind = data.get("type") if isinstance(data, dict) else None
    if kind not in TYPES:
        raise errors.InvalidRequest(
            f"{where}.type: {kind!r} is not a grader Berth has. Use one of: {', '.join(TYPES)}."
        )
    try:
        found: Criterion = _ADAPTER.validate_python(data)
    except pydantic.ValidationError as exc:
        problem = exc.errors(include_url=False)[0]
        path = ".".join(str(p) for p in problem["loc"][1:])
        message = problem["msg"].removeprefix("Value error, ")
        raise errors.InvalidRequest(f"{where}{'.' + path if path else ''}: {message}.") from None
    return found


def criteria_of(data: Any) -> list[Criterion]:
    """An eval's testing criteria, each checked, their names distinct."""
    if not isinstance(data, list) or not data:
        raise errors.InvalidRequest(
            "testing_criteria: give a non-empty list of graders, e.g. "
            '[{"type": "string_check", "name": "exact", "input": "{{sample.output_text}}", '
            '"reference": "{{item.answer}}", "operation": "eq"}].'
        )
    found = [criterion_of(item, f"testing_criteria[{i}]") for i, item in enumerate(data)]
    names = [c.name for c in found]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise errors.InvalidRequest(
            f"testing_criteria: the names {twice} are used twice; give each criterion its own."
        )
    return found
