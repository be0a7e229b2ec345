"""The agent run page: the run's trace as a timeline (model turns, guardrail decisions, tool
calls with inputs, outputs and durations), the calls waiting for approval with approve and
deny buttons, and every tool's circuit breaker; it reloads itself while the run goes on."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from berth.agents.steps import Step
from berth.http.runtime import services
from berth.keys.key import Scope
from berth.web.access import Visitor
from berth.web.render import acted, page, shown

router = APIRouter(include_in_schema=False)
SHOWN_CHARS = 400


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + "…"


def _summary(step: Step) -> str:
    data = step.data
    if step.type == "model_turn":
        calls = ", ".join(f"{c['name']}({c['arguments']})" for c in data["calls"])
        return _short(f"calls {calls}" if calls else f"answers: {data['content']}")
    if step.type == "guardrail":
        return f"{data['tool']}: {data['verdict']}" + (
            f" ({data['reason']})" if data["reason"] else ""
        )
    if step.type == "tool_call":
        return _short(f"{data['tool']} {json.dumps(data['arguments'])}")
    if step.type == "tool_result":
        return _short(f"{data['tool']} → {json.dumps(data['output'])}")
    if step.type == "approval":
        verdict = "approved" if data.get("approved") else "denied"
        return f"{data.get('tool', '')} {verdict} by {data.get('by', '?')} {data.get('reason', '')}"
    if step.type == "final":
        return _short(f"{data['stop']}: {data['output']}")
    if step.type == "start":
        return f"{data['model']} with {', '.join(data['tools']) or 'no tools'}"
    return _short(data)


def timeline(steps: list[Step]) -> list[dict[str, Any]]:
    """Each step with its time from the start, a one-line summary and its duration."""
    start = steps[0].at if steps else 0.0
    return [
        {
            "seq": s.seq,
            "type": s.type,
            "offset": s.at - start,
            "summary": _summary(s),
            "seconds": s.data.get("seconds"),
            "flag": s.type == "guardrail" and s.data.get("verdict") != "allow",
        }
        for s in steps
    ]


@router.get("/agents/runs/{job_id}")
async def run_page(job_id: str, request: Request) -> Response:
    async def build(who: Visitor) -> Response:
        found = services(request).agents
        run = await found.run(who.key, job_id)
        context = {
            "title": f"Agent run {run.job.id}",
            "job": run.job,
            "timeline": timeline(run.steps),
            "waiting": run.waiting(),
            "tools": found.tools(),
            "live": not run.job.status.terminal,
        }
        return page(request, who, "agent_run.html", context)

    return await shown(request, Scope.JOBS, build)


@router.post("/agents/runs/{job_id}/approvals/{call_id}")
async def decide(job_id: str, call_id: str, request: Request) -> Response:
    async def act(who: Visitor) -> Response:
        form = await request.form()
        reason = str(form.get("reason") or "")
        approved = form.get("decision") == "approve"
        await services(request).agents.decide(
            who.key, job_id, call_id, approved=approved, reason=reason
        )
        return RedirectResponse(f"/agents/runs/{job_id}", status_code=303)

    return await acted(request, Scope.JOBS, act)
