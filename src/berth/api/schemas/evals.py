"""OpenAI-shaped bodies of the Evals API: evals, runs, output items, and their lists."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from berth.evals.records import Eval, EvalRun, OutputItem

SAMPLE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "model": {"type": "string"},
        "choices": {"type": "array"},
        "output_text": {"type": "string"},
        "output_json": {"type": "object"},
    },
    "required": ["model", "output_text"],
}


class EvalCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data_source_config: dict[str, Any]
    testing_criteria: list[dict[str, Any]]
    name: str | None = Field(default=None, max_length=255)
    metadata: dict[str, Any] | None = None


class EvalUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=255)
    metadata: dict[str, Any] | None = None


class RunCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data_source: dict[str, Any]
    name: str | None = Field(default=None, max_length=255)
    metadata: dict[str, Any] | None = None


def full_schema(config: dict[str, Any]) -> dict[str, Any]:
    """The schema of what templates reach: ``item`` and (when included) ``sample``."""
    properties: dict[str, Any] = {"item": config["item_schema"]}
    required = ["item"]
    if config.get("include_sample_schema"):
        properties["sample"] = SAMPLE_SCHEMA
        required.append("sample")
    return {"type": "object", "properties": properties, "required": required}


class EvalObject(BaseModel):
    id: str
    object: Literal["eval"] = "eval"
    created_at: int
    name: str
    data_source_config: dict[str, Any]
    testing_criteria: list[dict[str, Any]]
    metadata: dict[str, str] | None

    @classmethod
    def of(cls, record: Eval) -> EvalObject:
        config = {"type": "custom", "schema": full_schema(record.data_source_config)}
        return cls(
            id=record.id,
            created_at=int(record.created_at),
            name=record.name,
            data_source_config=config,
            testing_criteria=record.testing_criteria,
            metadata=record.metadata or None,
        )


class EvalList(BaseModel):
    object: Literal["list"] = "list"
    data: list[EvalObject]
    first_id: str | None
    last_id: str | None
    has_more: bool


class EvalDeleted(BaseModel):
    object: Literal["eval.deleted"] = "eval.deleted"
    deleted: bool = True
    eval_id: str


class RunObject(BaseModel):
    id: str
    object: Literal["eval.run"] = "eval.run"
    created_at: int
    eval_id: str
    name: str
    status: str
    model: str | None
    data_source: dict[str, Any]
    error: dict[str, Any] | None
    metadata: dict[str, str] | None
    per_model_usage: list[dict[str, Any]]
    per_testing_criteria_results: list[dict[str, Any]]
    result_counts: dict[str, int]
    report_url: str
    job_id: str | None
    """Berth's job doing the run (GET /v1/jobs/{job_id} for its events and artifacts)."""
    berth_report: dict[str, Any] | None = None
    """Berth's report of a finished run (dataset and model provenance, graders, seeds,
    versions, latency and tokens per sample), as in its job's ``report.json``."""

    @classmethod
    def of(cls, run: EvalRun, base_url: str) -> RunObject:
        return cls(
            id=run.id,
            created_at=int(run.created_at),
            eval_id=run.eval_id,
            name=run.name,
            status=run.status.value,
            model=run.model,
            data_source=run.data_source,
            error=run.error,
            metadata=run.metadata or None,
            per_model_usage=list(run.per_model_usage),
            per_testing_criteria_results=[c.as_json() for c in run.per_testing_criteria_results],
            result_counts=run.result_counts.as_json(),
            report_url=f"{base_url.rstrip('/')}/evals/{run.eval_id}/runs/{run.id}",
            job_id=run.job_id,
        )


class RunList(BaseModel):
    object: Literal["list"] = "list"
    data: list[RunObject]
    first_id: str | None
    last_id: str | None
    has_more: bool


class RunDeleted(BaseModel):
    object: Literal["eval.run.deleted"] = "eval.run.deleted"
    deleted: bool = True
    run_id: str


class OutputItemObject(BaseModel):
    id: str
    object: Literal["eval.run.output_item"] = "eval.run.output_item"
    created_at: int
    eval_id: str
    run_id: str
    datasource_item_id: int
    datasource_item: dict[str, Any]
    sample: dict[str, Any]
    results: list[dict[str, Any]]
    status: str

    @classmethod
    def of(cls, item: OutputItem) -> OutputItemObject:
        return cls(
            id=item.id,
            created_at=int(item.created_at),
            eval_id=item.eval_id,
            run_id=item.run_id,
            datasource_item_id=item.index,
            datasource_item=item.item,
            sample=item.sample,
            results=item.results,
            status=item.status,
        )


class OutputItemList(BaseModel):
    object: Literal["list"] = "list"
    data: list[OutputItemObject]
    first_id: str | None
    last_id: str | None
    has_more: bool
