"""Eval pages: the evals and their runs, one run's report (per-criterion results and the
samples side by side, filtered to failures if asked), refreshed while the run goes on, and two
runs compared (per criterion and the samples that differ)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from berth.evals.records import EvalRun
from berth.http.runtime import services
from berth.keys.key import Scope
from berth.web.access import Visitor
from berth.web.render import page, shown

router = APIRouter(include_in_schema=False)
SAMPLES = 100
STATUSES = ("pass", "fail", "error")


def rate(run: EvalRun) -> float | None:
    """The share of graded samples that passed."""
    graded = run.result_counts.passed + run.result_counts.failed
    return run.result_counts.passed / graded if graded else None


@router.get("/evals")
async def evals_page(request: Request) -> Response:
    async def build(who: Visitor) -> Response:
        found = services(request).evals
        listed = await found.list_evals(who.key, after=None, limit=100, newest_first=True)
        rows: list[dict[str, Any]] = []
        for record in listed:
            runs = await found.list_runs(
                who.key, record.id, status=None, after=None, limit=10, newest_first=True
            )
            rows.append({"eval": record, "runs": [(r, rate(r)) for r in runs]})
        return page(request, who, "evals.html", {"title": "Evals", "rows": rows})

    return await shown(request, Scope.JOBS, build)


@router.get("/evals/{eval_id}/runs/{run_id}")
async def run_page(eval_id: str, run_id: str, request: Request) -> Response:
    async def build(who: Visitor) -> Response:
        found = services(request).evals
        record = await found.get(who.key, eval_id)
        run = await found.get_run(who.key, eval_id, run_id)
        status = request.query_params.get("status")
        status = status if status in STATUSES else None
        others = await found.list_runs(
            who.key, eval_id, status=None, after=None, limit=20, newest_first=True
        )
        items = await found.list_items(
            who.key, eval_id, run_id, status=status, after=None, limit=SAMPLES,
            newest_first=False,
        )  # fmt: skip
        per = [
            (c, c.passed / (c.passed + c.failed) if c.passed + c.failed else 0.0)
            for c in run.per_testing_criteria_results
        ]
        context = {
            "title": f"Eval run {run.name}",
            "eval": record,
            "run": run,
            "rate": rate(run),
            "per": per,
            "items": sorted(items, key=lambda item: item.index),
            "status": status,
            "terminal": run.status.terminal,
            "others": [other for other in others if other.id != run.id],
        }
        return page(request, who, "eval_run.html", context)

    return await shown(request, Scope.JOBS, build)


@router.get("/evals/{eval_id}/compare")
async def compare_page(eval_id: str, request: Request) -> Response:
    """Run ``b`` against run ``a`` (query parameters)."""

    async def build(who: Visitor) -> Response:
        found = services(request).evals
        record = await found.get(who.key, eval_id)
        a = await found.get_run(who.key, eval_id, request.query_params.get("a", ""))
        b = await found.get_run(who.key, eval_id, request.query_params.get("b", ""))
        _, _, comparison = await found.compare_runs(who.key, a.id, b.id)
        context = {"title": f"Compare runs of {record.name}", "eval": record, "a": a, "b": b,
                   "comparison": comparison}  # fmt: skip
        return page(request, who, "eval_compare.html", context)

    return await shown(request, Scope.JOBS, build)
