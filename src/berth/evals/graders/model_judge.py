"""``label_model`` and ``score_model``: an LLM judge from the catalog reads the rendered
messages and answers a label (passing if it is one of ``passing_labels``) or a number in
``range`` (passing at ``pass_threshold``, by default the middle of the range). The judge is
reached through ModelCalls (inside a run: the job's, in the pool's background lane)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from berth import errors
from berth.evals.graders.grader import Criterion, Grade, Grader, Scope
from berth.evals.template import render
from berth.tasks.calls import ModelCalls
from berth.tasks.generate import GENERATE, ChatMessage, GenerationRequest
from berth.tasks.task import ModelTask

NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
JUDGE_TOKENS = 64


class JudgeMessage(BaseModel):
    """One message to the judge; its content text (or text parts) may hold templates."""

    model_config = ConfigDict(extra="ignore")

    role: Literal["user", "assistant", "system", "developer"]
    content: str | dict[str, Any] | list[dict[str, Any]]
    type: Literal["message"] | None = None

    def text(self) -> str:
        """The message's text: a string, or its text parts joined."""
        parts = self.content if isinstance(self.content, list) else [self.content]
        texts = []
        for part in parts:
            if isinstance(part, str):
                texts.append(part)
            elif part.get("type") in ("input_text", "output_text") and "text" in part:
                texts.append(str(part["text"]))
            else:
                raise ValueError(f"a judge reads text only, not a {part.get('type')!r} part")
        return "".join(texts)

    @model_validator(mode="after")
    def _text_only(self) -> JudgeMessage:
        self.text()
        return self


class JudgeSampling(BaseModel):
    model_config = ConfigDict(extra="ignore")

    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    seed: int | None = None
    max_completions_tokens: int | None = Field(default=None, ge=1)


class Judged(Criterion):
    """What both model graders share: the judge model and its messages."""

    model: str = Field(min_length=1)
    input: list[JudgeMessage] = Field(min_length=1)
    sampling_params: JudgeSampling | None = None

    def templates(self) -> dict[str, str]:
        return {f"input[{i}].content": m.text() for i, m in enumerate(self.input)}

    def models(self) -> list[tuple[str, ModelTask[Any]]]:
        return [(self.model, GENERATE)]

    async def ask(self, models: ModelCalls, scope: Scope) -> str:
        """The judge's answer to the rendered messages (greedy unless sampling says)."""
        sampling = self.sampling_params or JudgeSampling()
        request = GenerationRequest(
            messages=tuple(ChatMessage(m.role, render(m.text(), scope)) for m in self.input),
            max_tokens=sampling.max_completions_tokens or JUDGE_TOKENS,
            temperature=0.0 if sampling.temperature is None else sampling.temperature,
            top_p=sampling.top_p or 1.0,
            seed=sampling.seed,
        )
        [answer] = await models.run(self.model, GENERATE, [request])
        return answer.text


def _needs(models: ModelCalls | None, kind: str) -> ModelCalls:
    if models is None:
        raise errors.BerthError(f"A {kind} criterion needs models, and none were given.")
    return models


class LabelModel(Judged):
    type: Literal["label_model"]
    labels: list[str] = Field(min_length=1)
    passing_labels: list[str] = Field(min_length=1)

    @model_validator(mode="after")
    def _passing_are_labels(self) -> LabelModel:
        stray = [label for label in self.passing_labels if label not in self.labels]
        if stray:
            raise ValueError(f"passing_labels {stray} are not among labels {self.labels}")
        return self

    def build(self, models: ModelCalls | None) -> Grader:
        return LabelGrader(self, _needs(models, "label_model"))


def label_in(answer: str, labels: list[str]) -> str | None:
    """The label the answer gives: all of it, else the label it names first."""
    folded = answer.strip().casefold()
    for label in labels:
        if folded == label.casefold():
            return label
    found = [(folded.find(label.casefold()), label) for label in labels]
    named = sorted((at, label) for at, label in found if at >= 0)
    return named[0][1] if named else None


@dataclass(frozen=True)
class LabelGrader:
    spec: LabelModel
    models: ModelCalls

    async def grade(self, scope: Scope) -> Grade:
        answer = await self.spec.ask(self.models, scope)
        label = label_in(answer, self.spec.labels)
        passed = label is not None and label in self.spec.passing_labels
        return Grade(float(passed), passed, {"label": label, "answer": answer})


class ScoreModel(Judged):
    type: Literal["score_model"]
    range: tuple[float, float] = (0.0, 1.0)
    pass_threshold: float | None = None

    @model_validator(mode="after")
    def _threshold_in_range(self) -> ScoreModel:
        low, high = self.range
        if not low < high:
            raise ValueError(f"range must be [low, high] with low < high, not {list(self.range)}")
        if self.pass_threshold is not None and not low <= self.pass_threshold <= high:
            raise ValueError(f"pass_threshold {self.pass_threshold} is outside range")
        return self

    def build(self, models: ModelCalls | None) -> Grader:
        return ScoreGrader(self, _needs(models, "score_model"))


@dataclass(frozen=True)
class ScoreGrader:
    spec: ScoreModel
    models: ModelCalls

    async def grade(self, scope: Scope) -> Grade:
        answer = await self.spec.ask(self.models, scope)
        low, high = self.spec.range
        found = NUMBER.search(answer)
        if found is None or not low <= float(found.group(0)) <= high:
            return Grade(
                low, False, {"answer": answer, "problem": f"no score in [{low:g}, {high:g}]"}
            )
        score = float(found.group(0))
        threshold = (
            (low + high) / 2 if self.spec.pass_threshold is None else self.spec.pass_threshold
        )
        return Grade(score, score >= threshold, {"answer": answer})
