"""Golden tests: outputs a run pins for its fixed seed, and the drift of a run from them.

A golden names one sample of the run (``index``, its place in the run's rows) and pins either
its exact ``output_text`` or one criterion's ``score`` within ``tolerance``. A run whose samples
drift beyond them fails, naming each drifted sample.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from berth.evals.records import OutputItem

Json = dict[str, Any]


class Golden(BaseModel):
    """One pinned output of a run."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    index: int = Field(ge=0, description="The sample's place in the run's rows (0-based).")
    output_text: str | None = Field(default=None, description="The exact text expected.")
    criterion: str | None = Field(default=None, description="The criterion whose score is pinned.")
    score: float | None = Field(default=None, description="The score expected of it.")
    tolerance: float = Field(default=0.0, ge=0, description="How far the score may move.")

    @model_validator(mode="after")
    def _one_pin(self) -> Golden:
        if (self.output_text is None) == (self.score is None):
            raise ValueError("pin either output_text or a criterion's score")
        if self.score is not None and self.criterion is None:
            raise ValueError("a pinned score names its criterion")
        return self

    def drift(self, item: OutputItem | None) -> str | None:
        """What differs in ``item`` from this pin, or None when it holds."""
        if item is None:
            return f"sample {self.index}: there is no such sample in the run"
        if self.output_text is not None:
            got = item.sample.get("output_text")
            if got != self.output_text:
                return f"sample {self.index}: output {got!r}, pinned {self.output_text!r}"
            return None
        result = next((r for r in item.results if r.get("name") == self.criterion), None)
        if result is None or not isinstance(result.get("score"), int | float):
            return f"sample {self.index}: no score from criterion {self.criterion!r}"
        assert self.score is not None
        score = float(result["score"])
        if abs(score - self.score) > self.tolerance:
            return (
                f"sample {self.index}: {self.criterion} scored {score:g}, pinned "
                f"{self.score:g} ± {self.tolerance:g}"
            )
        return None


def drifts(goldens: list[Golden], items: list[OutputItem]) -> list[Json]:
    """Each golden that ``items`` drifted from: ``{"index", "message"}``, in index order."""
    by_index = {item.index: item for item in items}
    found = []
    for golden in sorted(goldens, key=lambda g: g.index):
        message = golden.drift(by_index.get(golden.index))
        if message is not None:
            found.append({"index": golden.index, "message": message})
    return found


def verdict(goldens: list[Golden], items: list[OutputItem]) -> Json:
    """The report's golden section: how many pins, which drifted."""
    found = drifts(goldens, items)
    return {"pinned": len(goldens), "held": len(goldens) - len(found), "drifted": found}
