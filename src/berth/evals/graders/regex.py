"""``regex`` (Berth's own): the rendered input matches ``pattern`` (searched anywhere, or the
whole text with ``full_match``); ``flags`` takes ``i`` (ignore case), ``m`` (multi-line) and
``s`` (dot matches newlines). Scores 1 or 0."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from pydantic import Field, field_validator

from berth.evals.graders.grader import Criterion, Grade, Grader, Scope
from berth.evals.template import render
from berth.tasks.calls import ModelCalls

FLAGS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL}


class Regex(Criterion):
    type: Literal["regex"]
    input: str = "{{sample.output_text}}"
    pattern: str = Field(min_length=1, max_length=10_000)
    flags: str = Field(default="", pattern=r"^[ims]*$")
    full_match: bool = False

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        return pattern

    def compiled(self) -> re.Pattern[str]:
        flags = 0
        for letter in self.flags:
            flags |= FLAGS[letter]
        return re.compile(self.pattern, flags)

    def templates(self) -> dict[str, str]:
        return {"input": self.input}

    def build(self, models: ModelCalls | None) -> Grader:
        return RegexGrader(self, self.compiled())


@dataclass(frozen=True)
class RegexGrader:
    spec: Regex
    pattern: re.Pattern[str]

    async def grade(self, scope: Scope) -> Grade:
        text = render(self.spec.input, scope)
        found = self.pattern.fullmatch(text) if self.spec.full_match else self.pattern.search(text)
        detail = {"match": found.group(0)} if found else {}
        return Grade(float(found is not None), found is not None, detail)
