"""The records of evaluations: an eval, its runs, and each run's output items (one per sample).

They are plain data in OpenAI's vocabulary; the JSON parts (``data_source_config``,
``testing_criteria``, a run's ``data_source``, an item's ``sample`` and ``results``) are kept as
they were given, checked by the eval service and the graders.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

EVAL_ID_PREFIX = "eval_"
RUN_ID_PREFIX = "evalrun_"
ITEM_ID_PREFIX = "outputitem_"

Json = dict[str, Any]


class RunStatus(enum.StrEnum):
    """A run's status, as OpenAI names it (the job's status, in the Evals API's words)."""

    QUEUED = "queued"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def terminal(self) -> bool:
        return self in {RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELED}


@dataclass(frozen=True, slots=True)
class Eval:
    """An eval: what its items look like and the testing criteria each sample is graded by."""

    id: str
    name: str
    data_source_config: Json
    testing_criteria: list[Json]
    created_at: float
    metadata: dict[str, str] = field(default_factory=dict)
    owner: str | None = None
    """The API key (its id) that made it; None for an anonymous loopback caller."""


@dataclass(frozen=True, slots=True)
class ResultCounts:
    """How a run's samples came out: each one passed, failed, or errored (not graded)."""

    total: int = 0
    passed: int = 0
    failed: int = 0
    errored: int = 0

    def as_json(self) -> Json:
        return {
            "total": self.total,
            "passed": self.passed,
            "failed": self.failed,
            "errored": self.errored,
        }


@dataclass(frozen=True, slots=True)
class CriterionResult:
    """How many samples one testing criterion passed and failed."""

    testing_criteria: str
    passed: int = 0
    failed: int = 0

    def as_json(self) -> Json:
        return {"testing_criteria": self.testing_criteria, "passed": self.passed,
                "failed": self.failed}  # fmt: skip


@dataclass(frozen=True, slots=True)
class EvalRun:
    """One run of an eval over a data source, done by the job ``job_id``."""

    id: str
    eval_id: str
    name: str
    data_source: Json
    status: RunStatus
    created_at: float
    model: str | None = None
    job_id: str | None = None
    result_counts: ResultCounts = ResultCounts()
    per_testing_criteria_results: tuple[CriterionResult, ...] = ()
    error: Json | None = None
    """``{"code", "message"}`` for a failed run."""
    metadata: dict[str, str] = field(default_factory=dict)
    owner: str | None = None
    per_model_usage: tuple[Json, ...] = ()
    """Per model the run called: ``model_name``, ``invocation_count`` and token counts."""


@dataclass(frozen=True, slots=True)
class OutputItem:
    """One sample of a run: the data source's item, what the model answered (``sample``), and
    each testing criterion's grade (``results``)."""

    id: str
    run_id: str
    eval_id: str
    index: int
    """The item's place in the data source (OpenAI's ``datasource_item_id``)."""
    item: Json
    sample: Json
    results: list[Json]
    passed: bool
    created_at: float
    errored: bool = False
    """The sample could not be made or graded (its ``sample.error`` says why)."""

    @property
    def status(self) -> str:
        """OpenAI's item status: ``pass``, ``fail`` or ``error``."""
        if self.errored:
            return "error"
        return "pass" if self.passed else "fail"


def usage_of(items: list[OutputItem]) -> tuple[Json, ...]:
    """The tokens each model spent on a run's samples, as OpenAI's ``per_model_usage``."""
    per: dict[str, Json] = {}
    for item in items:
        model, usage = item.sample.get("model"), item.sample.get("usage")
        if not isinstance(model, str) or not isinstance(usage, dict):
            continue
        entry = per.setdefault(model, {"model_name": model, "invocation_count": 0,
                                       "prompt_tokens": 0, "completion_tokens": 0,
                                       "total_tokens": 0, "cached_tokens": 0})  # fmt: skip
        entry["invocation_count"] += 1
        for name in ("prompt_tokens", "completion_tokens", "total_tokens", "cached_tokens"):
            entry[name] += int(usage.get(name, 0))
    return tuple(per.values())


def counts_of(
    items: list[OutputItem], criteria: list[str]
) -> tuple[ResultCounts, tuple[CriterionResult, ...]]:
    """A run's result counts and per-criterion results from its output items."""
    passed = sum(i.passed and not i.errored for i in items)
    errored = sum(i.errored for i in items)
    counts = ResultCounts(len(items), passed, len(items) - passed - errored, errored)
    per: dict[str, list[int]] = {name: [0, 0] for name in criteria}
    for item in items:
        for result in item.results:
            tally = per.setdefault(str(result.get("name")), [0, 0])
            tally[0 if result.get("passed") else 1] += 1
    return counts, tuple(CriterionResult(name, p, f) for name, (p, f) in per.items())
