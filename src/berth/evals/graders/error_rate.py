"""``error_rate`` (Berth's own): the word (``wer``) or character (``cer``) error rate of the
rendered input against the reference, computed with jiwer, for transcriptions. The score is
the rate (0 is perfect); the sample passes at ``max_error`` or below."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import Field

from berth.evals.graders.grader import Criterion, Grade, Grader, Scope
from berth.evals.template import render
from berth.tasks.calls import ModelCalls


class ErrorRate(Criterion):
    type: Literal["error_rate"]
    input: str = "{{sample.output_text}}"
    reference: str
    metric: Literal["wer", "cer"] = "wer"
    max_error: float = Field(ge=0)
    lowercase: bool = False
    """Compare ignoring case."""

    def templates(self) -> dict[str, str]:
        return {"input": self.input, "reference": self.reference}

    def build(self, models: ModelCalls | None) -> Grader:
        return ErrorRateGrader(self)


def rate(metric: str, text: str, reference: str) -> float:
    import jiwer

    if not reference.strip():
        return 0.0 if not text.strip() else 1.0
    measure = jiwer.wer if metric == "wer" else jiwer.cer
    return float(measure(reference, text))


@dataclass(frozen=True)
class ErrorRateGrader:
    spec: ErrorRate

    async def grade(self, scope: Scope) -> Grade:
        text, reference = render(self.spec.input, scope), render(self.spec.reference, scope)
        if self.spec.lowercase:
            text, reference = text.lower(), reference.lower()
        score = rate(self.spec.metric, text, reference)
        return Grade(score, score <= self.spec.max_error, {"input": text})
