"""Model administration (scope ``admin``): load, unload, pin, and pull as a job."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict

from berth.api.runtime import runtime
from berth.api.schemas.jobs import JobOut

router = APIRouter(prefix="/v1/models", tags=["admin"])


class PinRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pinned: bool = True


class ModelState(BaseModel):
    id: str
    loaded: bool
    pinned: bool | None = None
    details: dict[str, Any] | None = None


def _state(request: Request, alias: str) -> ModelState:
    pool = runtime(request).berth.pool
    found = next((m for m in pool.describe() if m.get("alias") == alias), None)
    pinned = bool(found["pinned"]) if found else None
    return ModelState(id=alias, loaded=found is not None, pinned=pinned, details=found)


@router.post("/{model_id}/load", response_model=ModelState)
async def load_model(model_id: str, request: Request) -> ModelState:
    """Load the model now (making room within the memory budget)."""
    berth = runtime(request).berth
    berth.catalog.get(model_id)
    await berth.pool.load(model_id)
    return _state(request, model_id)


@router.post("/{model_id}/unload", response_model=ModelState)
async def unload_model(model_id: str, request: Request) -> ModelState:
    """Unload the model once its running calls finish; its memory comes back."""
    berth = runtime(request).berth
    berth.catalog.get(model_id)
    await berth.pool.unload(model_id)
    return _state(request, model_id)


@router.post("/{model_id}/pin", response_model=ModelState)
async def pin_model(model_id: str, body: PinRequest, request: Request) -> ModelState:
    """Pin (never evicted, never expired) or unpin the model, loaded or not."""
    berth = runtime(request).berth
    berth.catalog.get(model_id)
    berth.pool.pin(model_id, body.pinned)
    state = _state(request, model_id)
    return state.model_copy(update={"pinned": body.pinned})


@router.post("/{model_id}/pull", response_model=JobOut, status_code=202)
async def pull_model(model_id: str, request: Request) -> JobOut:
    """Download the model into the cache as a ``pull`` job; follow it at /v1/jobs/{id}."""
    berth = runtime(request).berth
    berth.catalog.get(model_id)
    submission = await berth.jobs.submit("pull", {}, model=model_id)
    return JobOut.of(submission.job)
