"""``latency`` (Berth's own): the sample was made within ``max_ms`` milliseconds (its
``sample.latency_ms``, which a completions run records for each call; a JSONL row may carry
its own). The score is the latency in milliseconds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import Field

from berth import errors
from berth.evals.graders.grader import Criterion, Grade, Grader, Scope
from berth.tasks.calls import ModelCalls


class Latency(Criterion):
    type: Literal["latency"]
    max_ms: float = Field(gt=0)

    def build(self, models: ModelCalls | None) -> Grader:
        return LatencyGrader(self)


@dataclass(frozen=True)
class LatencyGrader:
    spec: Latency

    async def grade(self, scope: Scope) -> Grade:
        took = scope.get("sample", {}).get("latency_ms")
        if not isinstance(took, int | float):
            raise errors.InvalidRequest(
                "The sample has no latency_ms to grade; a latency criterion needs a completions "
                'run, or JSONL rows whose "sample" holds latency_ms.'
            )
        return Grade(float(took), took <= self.spec.max_ms)
