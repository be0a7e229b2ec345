"""``/v1/agents``: agent runs (``agent`` jobs) with their steps, approvals of waiting calls,
and the registered tools with their circuit breakers.

Start a run with ``POST /v1/jobs`` (``kind: "agent"``); stop it with
``POST /v1/jobs/{id}/cancel`` (the kill switch).
"""

from __future__ import annotations

from fastapi import APIRouter

from berth.api.schemas.agents import (
    AgentRunObject,
    Decision,
    StepObject,
    ToolList,
    ToolObject,
    ToolSourceObject,
)
from berth.http.auth import JobsCaller
from berth.http.runtime import ServicesDep

router = APIRouter(prefix="/v1/agents", tags=["agents"])


@router.get("/tools", response_model=ToolList)
async def list_tools(key: JobsCaller, services: ServicesDep) -> ToolList:
    """Every registered tool, its flags and its breaker's state, and how each MCP server of
    the settings loaded."""
    agents = services.agents
    sources = [ToolSourceObject(**source) for source in agents.sources()]
    return ToolList(data=[ToolObject(**tool) for tool in agents.tools()], sources=sources)


@router.get("/runs/{job_id}", response_model=AgentRunObject)
async def get_run(job_id: str, key: JobsCaller, services: ServicesDep) -> AgentRunObject:
    """A run's status, its steps so far and the calls waiting for approval."""
    run = await services.agents.run(key, job_id)
    return AgentRunObject(
        id=run.job.id,
        status=run.job.status.value,
        model=run.job.model,
        steps=[StepObject.of(s) for s in run.steps],
        waiting=run.waiting(),
        result=run.job.result,
    )


@router.post("/runs/{job_id}/approvals/{call_id}", response_model=StepObject)
async def decide(
    job_id: str, call_id: str, decision: Decision, key: JobsCaller, services: ServicesDep
) -> StepObject:
    """Approve or deny a call that waits; the run goes on at once."""
    step = await services.agents.decide(
        key, job_id, call_id, approved=decision.approve, reason=decision.reason
    )
    return StepObject.of(step)
