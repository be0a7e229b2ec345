"""``embedding_similarity`` (Berth's own): the cosine similarity of the rendered input and
reference as a catalog embedding model sees them, passing at ``pass_threshold``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import Field

from berth import errors
from berth.evals.graders.grader import Criterion, Grade, Grader, Scope
from berth.evals.template import render
from berth.tasks.calls import ModelCalls
from berth.tasks.embed import EMBED, EmbedInput
from berth.tasks.task import ModelTask


class EmbeddingSimilarity(Criterion):
    type: Literal["embedding_similarity"]
    model: str = Field(min_length=1)
    input: str = "{{sample.output_text}}"
    reference: str
    pass_threshold: float = Field(ge=-1, le=1)

    def templates(self) -> dict[str, str]:
        return {"input": self.input, "reference": self.reference}

    def models(self) -> list[tuple[str, ModelTask[Any]]]:
        return [(self.model, EMBED)]

    def build(self, models: ModelCalls | None) -> Grader:
        if models is None:
            raise errors.BerthError("An embedding_similarity criterion needs models.")
        return EmbeddingGrader(self, models)


@dataclass(frozen=True)
class EmbeddingGrader:
    spec: EmbeddingSimilarity
    models: ModelCalls

    async def grade(self, scope: Scope) -> Grade:
        texts = [render(self.spec.input, scope), render(self.spec.reference, scope)]
        pair = await self.models.run(self.spec.model, EMBED, [EmbedInput(text=t) for t in texts])
        a, b = (np.asarray(out.vector, dtype=np.float64) for out in pair)
        norms = float(np.linalg.norm(a) * np.linalg.norm(b))
        score = float(a @ b / norms) if norms > 0 else 0.0
        return Grade(score, score >= self.spec.pass_threshold)
