"""One sample of a run: the model's answer to a row (completions) or the row's own sample
(jsonl), graded by every criterion, as the output item the store keeps."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from berth import errors
from berth.clock import Clock
from berth.evals.graders import Criterion, Grader
from berth.evals.records import ITEM_ID_PREFIX, EvalRun, OutputItem
from berth.evals.sources import Completions, Jsonl, Row
from berth.ids import new_id
from berth.tasks.calls import ModelCalls
from berth.tasks.generate import GENERATE, Generation


@dataclass(frozen=True)
class Sampler:
    """Makes and grades the samples of one run."""

    run: EvalRun
    source: Jsonl | Completions
    graders: list[tuple[Criterion, Grader]]
    models: ModelCalls | None
    clock: Clock
    attempt: int

    async def item(self, index: int, row: Row) -> OutputItem:
        """Row ``index`` sampled and graded. A row the model refuses or a grader cannot read
        is an errored item saying why; other failures (a crashed model) are raised."""
        try:
            sample = await self._sample(row)
        except errors.InvalidRequest as exc:
            return self._item(index, row, self._failed_sample(row, exc), [], errored=True)
        scope = {"item": row.item, "sample": sample}
        results = []
        try:
            for criterion, grader in self.graders:
                grade = await grader.grade(scope)
                results.append(
                    {
                        "name": criterion.name,
                        "type": criterion.type_name(),
                        "score": grade.score,
                        "passed": grade.passed,
                        "sample": None,
                        **grade.detail,
                    }
                )
        except errors.InvalidRequest as exc:
            sample = {**sample, "error": {"code": "grader_error", "message": exc.message}}
            return self._item(index, row, sample, results, errored=True)
        passed = all(r["passed"] for r in results)
        return self._item(index, row, sample, results, passed=passed)

    def _item(
        self,
        index: int,
        row: Row,
        sample: dict[str, Any],
        results: list[dict[str, Any]],
        *,
        passed: bool = False,
        errored: bool = False,
    ) -> OutputItem:
        return OutputItem(
            id=new_id(ITEM_ID_PREFIX),
            run_id=self.run.id,
            eval_id=self.run.eval_id,
            index=index,
            item=row.item,
            sample={**sample, "attempt": self.attempt},
            results=results,
            passed=passed,
            created_at=self.clock.now(),
            errored=errored,
        )

    def _failed_sample(self, row: Row, exc: errors.BerthError) -> dict[str, Any]:
        sample = dict(row.sample or {}) if isinstance(self.source, Jsonl) else {}
        return {
            **sample,
            "output": [],
            "error": {"code": "invalid_request", "message": exc.message},
        }

    async def _sample(self, row: Row) -> dict[str, Any]:
        if isinstance(self.source, Jsonl):
            return jsonl_sample(row)
        assert self.models is not None
        request = self.source.request(row.item)
        started = time.perf_counter()
        [answer] = await self.models.run(self.source.model, GENERATE, [request])
        took = (time.perf_counter() - started) * 1000
        return completion_sample(self.source, request.messages, answer, took)


def jsonl_sample(row: Row) -> dict[str, Any]:
    """A JSONL row's own sample, with ``output_text`` filled from its output if missing."""
    sample = dict(row.sample or {})
    if "output_text" not in sample:
        output = sample.get("output")
        if isinstance(output, list) and output and isinstance(output[-1], dict):
            sample["output_text"] = str(output[-1].get("content", ""))
    return sample


def completion_sample(
    source: Completions, messages: Any, answer: Generation, latency_ms: float
) -> dict[str, Any]:
    """The sample of one model answer, in OpenAI's shape (plus output_text and latency_ms)."""
    params = source.sampling_params
    return {
        "input": [{"role": m.role, "content": m.content} for m in messages],
        "output": [{"role": "assistant", "content": answer.text}],
        "output_text": answer.text,
        "finish_reason": answer.finish_reason,
        "model": source.model,
        "usage": {
            "prompt_tokens": answer.prompt_tokens,
            "completion_tokens": answer.completion_tokens,
            "total_tokens": answer.prompt_tokens + answer.completion_tokens,
            "cached_tokens": 0,
        },
        "error": None,
        "temperature": params.temperature,
        "top_p": params.top_p,
        "max_completion_tokens": params.max_completion_tokens or 0,
        "seed": params.seed if params.seed is not None else 0,
        "latency_ms": round(latency_ms, 3),
    }
