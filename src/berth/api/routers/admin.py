"""Model administration (scope ``admin``): load, unload, pin, and pull as a job."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from berth.api.schemas.jobs import JobOut
from berth.http.auth import AdminCaller
from berth.http.runtime import ServicesDep
from berth.services import Services

router = APIRouter(prefix="/v1/models", tags=["admin"])


class PinRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pinned: bool = True


class ModelState(BaseModel):
    id: str
    loaded: bool
    pinned: bool | None = None
    details: dict[str, Any] | None = None


def _state(services: Services, alias: str) -> ModelState:
    found = services.models.resident(alias)
    pinned = bool(found["pinned"]) if found else None
    return ModelState(id=alias, loaded=found is not None, pinned=pinned, details=found)


@router.post("/{model_id}/load", response_model=ModelState)
async def load_model(model_id: str, services: ServicesDep) -> ModelState:
    """Load the model now (making room within the memory budget)."""
    await services.models.load(model_id)
    return _state(services, model_id)


@router.post("/{model_id}/unload", response_model=ModelState)
async def unload_model(model_id: str, services: ServicesDep) -> ModelState:
    """Unload the model once its running calls finish; its memory comes back."""
    await services.models.unload(model_id)
    return _state(services, model_id)


@router.post("/{model_id}/pin", response_model=ModelState)
async def pin_model(model_id: str, body: PinRequest, services: ServicesDep) -> ModelState:
    """Pin (never evicted, never expired) or unpin the model, loaded or not."""
    services.models.pin(model_id, body.pinned)
    state = _state(services, model_id)
    return state.model_copy(update={"pinned": body.pinned})


@router.post("/{model_id}/pull", response_model=JobOut, status_code=202)
async def pull_model(model_id: str, key: AdminCaller, services: ServicesDep) -> JobOut:
    """Download the model into the cache as a ``pull`` job; follow it at /v1/jobs/{id}."""
    submission = await services.jobs.submit(key, "pull", {}, model=model_id)
    return JobOut.of(submission.job)
