"""``/v1/fine_tuning/jobs``: create, list, retrieve, cancel, pause and resume fine-tuning jobs,
and list their events and checkpoints (OpenAI's fine-tuning API)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from berth.api.schemas.fine_tuning import (
    FineTuningCheckpointList,
    FineTuningCheckpointObject,
    FineTuningEventList,
    FineTuningEventObject,
    FineTuningJobCreate,
    FineTuningJobList,
    FineTuningJobObject,
)
from berth.http.auth import JobsCaller
from berth.http.runtime import ServicesDep

router = APIRouter(prefix="/v1/fine_tuning/jobs", tags=["fine-tuning"])
Limit = Annotated[int, Query(ge=1, le=100)]
After = Annotated[str | None, Query(max_length=40, description="The last id seen: the cursor.")]


@router.post("", response_model=FineTuningJobObject)
async def create_job(
    body: FineTuningJobCreate, key: JobsCaller, services: ServicesDep
) -> FineTuningJobObject:
    """Check the base model, the method and the files (every line an example of the method:
    chat for supervised, preference for dpo), then queue the run."""
    tune = await services.fine_tuning.create(
        key,
        model=body.model,
        training_file=body.training_file,
        validation_file=body.validation_file,
        hyperparameters=body.resolved_hyperparameters(),
        lora=body.lora.resolved(),
        method=body.method_type,
        seed=body.seed,
        suffix=body.suffix,
        metadata=body.metadata,
    )
    return FineTuningJobObject.of(tune)


@router.get("", response_model=FineTuningJobList)
async def list_jobs(
    key: JobsCaller, services: ServicesDep, after: After = None, limit: Limit = 20
) -> FineTuningJobList:
    """The caller's fine-tuning jobs, newest first."""
    found = await services.fine_tuning.list_jobs(key, after=after, limit=limit + 1)
    data = [FineTuningJobObject.of(tune) for tune in found[:limit]]
    return FineTuningJobList(data=data, has_more=len(found) > limit)


@router.get("/{tune_id}", response_model=FineTuningJobObject)
async def retrieve_job(tune_id: str, key: JobsCaller, services: ServicesDep) -> FineTuningJobObject:
    return FineTuningJobObject.of(await services.fine_tuning.get(key, tune_id))


@router.post("/{tune_id}/cancel", response_model=FineTuningJobObject)
async def cancel_job(tune_id: str, key: JobsCaller, services: ServicesDep) -> FineTuningJobObject:
    """Stop at the next step; the checkpoints written so far stay."""
    return FineTuningJobObject.of(await services.fine_tuning.cancel(key, tune_id))


@router.post("/{tune_id}/pause", response_model=FineTuningJobObject)
async def pause_job(tune_id: str, key: JobsCaller, services: ServicesDep) -> FineTuningJobObject:
    """Stop at the next step; resume goes on from the last checkpoint."""
    return FineTuningJobObject.of(await services.fine_tuning.pause(key, tune_id))


@router.post("/{tune_id}/resume", response_model=FineTuningJobObject)
async def resume_job(tune_id: str, key: JobsCaller, services: ServicesDep) -> FineTuningJobObject:
    return FineTuningJobObject.of(await services.fine_tuning.resume(key, tune_id))


@router.get("/{tune_id}/events", response_model=FineTuningEventList)
async def list_events(
    tune_id: str, key: JobsCaller, services: ServicesDep, after: After = None, limit: Limit = 20
) -> FineTuningEventList:
    """The job's events, newest first; ``metrics`` events carry each step's numbers."""
    found = await services.fine_tuning.events(key, tune_id, after=after, limit=limit + 1)
    data = [FineTuningEventObject.of(event) for event in found[:limit]]
    return FineTuningEventList(data=data, has_more=len(found) > limit)


@router.get("/{tune_id}/checkpoints", response_model=FineTuningCheckpointList)
async def list_checkpoints(
    tune_id: str, key: JobsCaller, services: ServicesDep, after: After = None, limit: Limit = 10
) -> FineTuningCheckpointList:
    """The job's checkpoints, newest first, with their step and metrics."""
    found = await services.fine_tuning.checkpoints(key, tune_id, after=after, limit=limit + 1)
    data = [FineTuningCheckpointObject.of(checkpoint) for checkpoint in found[:limit]]
    return FineTuningCheckpointList(
        data=data,
        first_id=data[0].id if data else None,
        last_id=data[-1].id if data else None,
        has_more=len(found) > limit,
    )


@router.post(
    "/{tune_id}/checkpoints/{checkpoint_id}/serve", response_model=FineTuningCheckpointObject
)
async def serve_checkpoint(
    tune_id: str, checkpoint_id: str, key: JobsCaller, services: ServicesDep
) -> FineTuningCheckpointObject:
    """Berth's own: make the checkpoint's model servable now; its
    ``fine_tuned_model_checkpoint`` then answers in ``/v1/chat/completions``."""
    found = await services.fine_tuning.serve_checkpoint(key, tune_id, checkpoint_id)
    return FineTuningCheckpointObject.of(found)
