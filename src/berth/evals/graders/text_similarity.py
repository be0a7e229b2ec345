"""``text_similarity``: how close the rendered input is to the reference, from 0 to 1, and
whether that reaches ``pass_threshold``. ``fuzzy_match`` is rapidfuzz's ratio, ``bleu``
sacrebleu's sentence BLEU, ``gleu`` NLTK's sentence GLEU, ``rouge_1`` to ``rouge_5`` and
``rouge_l`` rouge-score's F-measure. ``cosine`` needs an embedding model: use the
``embedding_similarity`` criterion, which names one from the catalog."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from pydantic import Field, field_validator

from berth.evals.graders.grader import Criterion, Grade, Grader, Scope
from berth.evals.template import render
from berth.tasks.calls import ModelCalls

Metric = Literal[
    "fuzzy_match", "bleu", "gleu", "meteor", "cosine",
    "rouge_1", "rouge_2", "rouge_3", "rouge_4", "rouge_5", "rouge_l",
]  # fmt: skip
UNSUPPORTED = {
    "meteor": "meteor needs WordNet data that Berth does not ship offline; use bleu, gleu or "
    "rouge_l",
    "cosine": "cosine needs an embedding model: use a criterion of type embedding_similarity "
    "with a model from the catalog",
}


def fuzzy(text: str, reference: str) -> float:
    from rapidfuzz import fuzz

    return float(fuzz.ratio(text, reference)) / 100.0


def bleu(text: str, reference: str) -> float:
    import sacrebleu

    return float(sacrebleu.sentence_bleu(text, [reference]).score) / 100.0


def gleu(text: str, reference: str) -> float:
    from nltk.translate.gleu_score import sentence_gleu  # type: ignore[import-untyped]

    return float(sentence_gleu([reference.split()], text.split()))


@functools.cache
def _rouge(kind: str) -> object:
    from rouge_score import rouge_scorer  # type: ignore[import-untyped]

    return rouge_scorer.RougeScorer([kind])


def rouge(kind: str) -> Callable[[str, str], float]:
    def score(text: str, reference: str) -> float:
        scorer = _rouge(kind)
        return float(scorer.score(reference, text)[kind].fmeasure)  # type: ignore[attr-defined]

    return score


METRICS: dict[str, Callable[[str, str], float]] = {
    "fuzzy_match": fuzzy,
    "bleu": bleu,
    "gleu": gleu,
    **{f"rouge_{n}": rouge(f"rouge{n}") for n in range(1, 6)},
    "rouge_l": rouge("rougeL"),
}


class TextSimilarity(Criterion):
    type: Literal["text_similarity"]
    input: str
    reference: str
    evaluation_metric: Metric
    pass_threshold: float = Field(ge=0, le=1)

    @field_validator("evaluation_metric")
    @classmethod
    def _supported(cls, metric: str) -> str:
        if metric in UNSUPPORTED:
            raise ValueError(UNSUPPORTED[metric])
        return metric

    def templates(self) -> dict[str, str]:
        return {"input": self.input, "reference": self.reference}

    def build(self, models: ModelCalls | None) -> Grader:
        return TextSimilarityGrader(self)


@dataclass(frozen=True)
class TextSimilarityGrader:
    spec: TextSimilarity

    async def grade(self, scope: Scope) -> Grade:
        text, reference = render(self.spec.input, scope), render(self.spec.reference, scope)
        score = METRICS[self.spec.evaluation_metric](text, reference)
        return Grade(score, score >= self.spec.pass_threshold, {"input": text})
