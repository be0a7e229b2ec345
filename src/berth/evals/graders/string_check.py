"""``string_check``: the rendered input against the rendered reference: ``eq``, ``ne``,
``like`` (contains) or ``ilike`` (contains, ignoring case). Scores 1 or 0."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from berth.evals.graders.grader import Criterion, Grade, Grader, Scope
from berth.evals.template import render
from berth.tasks.calls import ModelCalls

OPERATIONS: dict[str, Callable[[str, str], bool]] = {
    "eq": lambda text, ref: text == ref,
    "ne": lambda text, ref: text != ref,
    "like": lambda text, ref: ref in text,
    "ilike": lambda text, ref: ref.casefold() in text.casefold(),
}


class StringCheck(Criterion):
    type: Literal["string_check"]
    input: str
    reference: str
    operation: Literal["eq", "ne", "like", "ilike"]

    def templates(self) -> dict[str, str]:
        return {"input": self.input, "reference": self.reference}

    def build(self, models: ModelCalls | None) -> Grader:
        return StringCheckGrader(self)


@dataclass(frozen=True)
class StringCheckGrader:
    spec: StringCheck

    async def grade(self, scope: Scope) -> Grade:
        text, reference = render(self.spec.input, scope), render(self.spec.reference, scope)
        passed = OPERATIONS[self.spec.operation](text, reference)
        return Grade(float(passed), passed, {"input": text, "reference": reference})
