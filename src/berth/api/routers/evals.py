"""``/v1/evals``: evals, their runs and the runs' output items (OpenAI's Evals API).

Lists page as OpenAI's do: ``after`` (an id), ``limit``, ``order`` (``asc`` or ``desc``), and
``has_more``, ``first_id``, ``last_id`` in the answer. A run's ``report_url`` is its page in
Berth's web UI.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request

from berth.api.schemas.evals import (
    EvalCreate,
    EvalDeleted,
    EvalList,
    EvalObject,
    EvalUpdate,
    OutputItemList,
    OutputItemObject,
    RunCreate,
    RunDeleted,
    RunList,
    RunObject,
)
from berth.http.auth import JobsCaller
from berth.http.runtime import ServicesDep

router = APIRouter(prefix="/v1/evals", tags=["evals"])
Limit = Annotated[int, Query(ge=1, le=100)]
Order = Annotated[Literal["asc", "desc"], Query()]
After = Annotated[str | None, Query(max_length=48, description="An id: the cursor.")]


def base(request: Request) -> str:
    return str(request.base_url)


@router.post("", response_model=EvalObject)
async def create_eval(body: EvalCreate, key: JobsCaller, services: ServicesDep) -> EvalObject:
    """Make an eval: a ``custom`` data source config and its testing criteria, checked."""
    made = await services.evals.create(
        key,
        data_source_config=body.data_source_config,
        testing_criteria=body.testing_criteria,
        name=body.name,
        metadata=body.metadata,
    )
    return EvalObject.of(made)


@router.get("", response_model=EvalList)
async def list_evals(
    key: JobsCaller,
    services: ServicesDep,
    after: After = None,
    limit: Limit = 20,
    order: Order = "asc",
    order_by: Annotated[Literal["created_at", "updated_at"], Query()] = "created_at",
) -> EvalList:
    """The caller's evals (``order_by`` is accepted; both orders are creation order here)."""
    found = await services.evals.list_evals(
        key, after=after, limit=limit + 1, newest_first=order == "desc"
    )
    page = [EvalObject.of(e) for e in found[:limit]]
    return EvalList(
        data=page, first_id=_first(page), last_id=_last(page), has_more=len(found) > limit
    )


@router.get("/{eval_id}", response_model=EvalObject)
async def get_eval(eval_id: str, key: JobsCaller, services: ServicesDep) -> EvalObject:
    return EvalObject.of(await services.evals.get(key, eval_id))


@router.post("/{eval_id}", response_model=EvalObject)
async def update_eval(
    eval_id: str, body: EvalUpdate, key: JobsCaller, services: ServicesDep
) -> EvalObject:
    """Rename the eval or replace its metadata."""
    changed = await services.evals.update(key, eval_id, name=body.name, metadata=body.metadata)
    return EvalObject.of(changed)


@router.delete("/{eval_id}", response_model=EvalDeleted)
async def delete_eval(eval_id: str, key: JobsCaller, services: ServicesDep) -> EvalDeleted:
    """Delete the eval, its runs (unfinished ones cancelled) and their items."""
    gone = await services.evals.delete(key, eval_id)
    return EvalDeleted(eval_id=gone.id)


@router.post("/{eval_id}/runs", response_model=RunObject)
async def create_run(
    eval_id: str, body: RunCreate, request: Request, key: JobsCaller, services: ServicesDep
) -> RunObject:
    """Start a run: its data source is checked, then its ``eval`` job queued."""
    run = await services.evals.create_run(
        key, eval_id, data_source=body.data_source, name=body.name, metadata=body.metadata
    )
    return RunObject.of(run, base(request))


@router.get("/{eval_id}/runs", response_model=RunList)
async def list_runs(
    eval_id: str,
    request: Request,
    key: JobsCaller,
    services: ServicesDep,
    after: After = None,
    limit: Limit = 20,
    order: Order = "asc",
    status: Annotated[str | None, Query(max_length=16)] = None,
) -> RunList:
    found = await services.evals.list_runs(
        key, eval_id, status=status, after=after, limit=limit + 1, newest_first=order == "desc"
    )
    page = [RunObject.of(r, base(request)) for r in found[:limit]]
    return RunList(
        data=page, first_id=_first(page), last_id=_last(page), has_more=len(found) > limit
    )


@router.get("/{eval_id}/runs/{run_id}", response_model=RunObject)
async def get_run(
    eval_id: str, run_id: str, request: Request, key: JobsCaller, services: ServicesDep
) -> RunObject:
    """The run; once it has finished, ``berth_report`` holds its report (what ``report.json``
    in its job's artifacts holds)."""
    found = RunObject.of(await services.evals.get_run(key, eval_id, run_id), base(request))
    found.berth_report = await services.evals.report(key, eval_id, run_id)
    return found


@router.post("/{eval_id}/runs/{run_id}", response_model=RunObject)
@router.post("/{eval_id}/runs/{run_id}/cancel", response_model=RunObject)
async def cancel_run(
    eval_id: str, run_id: str, request: Request, key: JobsCaller, services: ServicesDep
) -> RunObject:
    """Cancel the run (both OpenAI's paths); a finished run is answered as it is."""
    return RunObject.of(await services.evals.cancel_run(key, eval_id, run_id), base(request))


@router.delete("/{eval_id}/runs/{run_id}", response_model=RunDeleted)
async def delete_run(
    eval_id: str, run_id: str, key: JobsCaller, services: ServicesDep
) -> RunDeleted:
    gone = await services.evals.delete_run(key, eval_id, run_id)
    return RunDeleted(run_id=gone.id)


@router.get("/{eval_id}/runs/{run_id}/output_items", response_model=OutputItemList)
async def list_output_items(
    eval_id: str,
    run_id: str,
    key: JobsCaller,
    services: ServicesDep,
    after: After = None,
    limit: Limit = 20,
    order: Order = "asc",
    status: Annotated[str | None, Query(max_length=8)] = None,
) -> OutputItemList:
    """The run's output items (``status=fail`` for the failing ones)."""
    found = await services.evals.list_items(
        key, eval_id, run_id, status=status, after=after, limit=limit + 1,
        newest_first=order == "desc",
    )  # fmt: skip
    page = [OutputItemObject.of(i) for i in found[:limit]]
    return OutputItemList(
        data=page, first_id=_first(page), last_id=_last(page), has_more=len(found) > limit
    )


@router.get("/{eval_id}/runs/{run_id}/output_items/{item_id}", response_model=OutputItemObject)
async def get_output_item(
    eval_id: str, run_id: str, item_id: str, key: JobsCaller, services: ServicesDep
) -> OutputItemObject:
    return OutputItemObject.of(await services.evals.get_item(key, eval_id, run_id, item_id))


Page = list[EvalObject] | list[RunObject] | list[OutputItemObject]


def _first(page: Page) -> str | None:
    return page[0].id if page else None


def _last(page: Page) -> str | None:
    return page[-1].id if page else None
