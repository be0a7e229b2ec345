"""``/v1/models``: the catalog, OpenAI-shaped."""

from __future__ import annotations

from fastapi import APIRouter

from berth.api.schemas.openai import ModelCard, ModelList
from berth.http.runtime import ServicesDep
from berth.models.spec import ModelSpec

router = APIRouter(prefix="/v1/models", tags=["openai"])
CREATED = 1_767_225_600  # catalog entries carry no date; OpenAI clients expect one


def card(spec: ModelSpec) -> ModelCard:
    return ModelCard(id=spec.alias, created=CREATED, task=spec.task.value, runner=spec.runner)


@router.get("", response_model=ModelList)
async def list_models(services: ServicesDep) -> ModelList:
    """Every model in the catalog."""
    return ModelList(data=[card(spec) for spec in services.inference.models()])


@router.get("/{model_id}", response_model=ModelCard)
async def get_model(model_id: str, services: ServicesDep) -> ModelCard:
    """One model; 404 if the catalog has no such alias."""
    return card(services.inference.catalog_entry(model_id))
