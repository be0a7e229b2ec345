"""Agent runs, for the API, the web UI and the CLI: a run's steps (its trace), the calls
waiting for approval and their decisions, the tools and their circuit breakers.

A run is an ``agent`` job (submit it with the job service); the caller who may see the job
may see and approve its calls. An approval is a step appended to the run's steps, which the
waiting run reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from berth import errors, metrics
from berth.agents.breaker import BreakerState
from berth.agents.host import AgentHost
from berth.agents.steps import Step
from berth.jobs.job import Job, JobStatus
from berth.keys.key import ApiKey
from berth.services.jobs import MAX_LIST, JobService

KIND = "agent"
BREAKER_LEVEL = {BreakerState.CLOSED: 0, BreakerState.HALF_OPEN: 1, BreakerState.OPEN: 2}


@dataclass(frozen=True)
class AgentRun:
    """One run: its job and its steps so far."""

    job: Job
    steps: list[Step]

    def waiting(self) -> list[dict[str, Any]]:
        """The calls waiting for an approval."""
        decided = {s.data.get("call_id") for s in self.steps if s.type == "approval"}
        return [
            s.data
            for s in self.steps
            if s.type == "approval_wait" and s.data["call_id"] not in decided
        ]


class AgentService:
    """Agent runs over the job service and the agents' host."""

    def __init__(self, host: AgentHost, jobs: JobService) -> None:
        self.host = host
        self.jobs = jobs

    async def run(self, caller: ApiKey | None, job_id: str) -> AgentRun:
        """The run with this job id; raises UnknownJob, or InvalidRequest for another kind."""
        job = await self.jobs.get(caller, job_id)
        if job.kind != KIND:
            raise errors.InvalidRequest(
                f"Job '{job_id}' is a '{job.kind}' job, not an agent run. Agent runs are jobs "
                f"of kind '{KIND}'."
            )
        return AgentRun(job, await self.host.steps.steps(job.id))

    async def decide(
        self,
        caller: ApiKey | None,
        job_id: str,
        call_id: str,
        *,
        approved: bool,
        reason: str = "",
    ) -> Step:
        """Approve or deny a call that waits; raises UnknownToolCall if none waits by that id,
        InvalidRequest if it was decided already or the run has ended."""
        run = await self.run(caller, job_id)
        if run.job.status.terminal:
            raise errors.InvalidRequest(
                f"The agent run '{job_id}' has ended ({run.job.status.value}); there is nothing "
                "to approve."
            )
        if any(s.type == "approval" and s.data.get("call_id") == call_id for s in run.steps):
            raise errors.InvalidRequest(
                f"The call '{call_id}' of run '{job_id}' was decided already."
            )
        waiting = [w for w in run.waiting() if w["call_id"] == call_id]
        if not waiting:
            ids = ", ".join(w["call_id"] for w in run.waiting()) or "none"
            raise errors.UnknownToolCall(
                f"The agent run '{job_id}' has no call '{call_id}' waiting for approval. "
                f"Waiting: {ids}."
            )
        by = caller.name if caller is not None else "local"
        data = {
            "call_id": call_id,
            "tool": waiting[0]["tool"],
            "approved": approved,
            "by": by,
            "reason": reason,
        }
        return await self.host.steps.append(job_id, "approval", data)

    async def load_sources(self) -> list[dict[str, Any]]:
        """Register the tools of the settings' MCP servers (``BERTH_MCP_SERVERS``), once; what
        each gave or why it gave nothing (a server that fails is logged, never raised)."""
        entries = self.host.settings.mcp_servers
        if entries:
            from berth.agents.mcpsource import register_servers  # the MCP client, only if used

            await register_servers(entries, self.host.tools)
        return self.sources()

    def sources(self) -> list[dict[str, Any]]:
        """The settings' tool sources: each one's status, its tools, and its error if it
        failed."""
        return [source.as_json() for source in self.host.tools.sources.values()]

    def tools(self) -> list[dict[str, Any]]:
        """Every registered tool with its flags and its breaker's state (also set in
        ``/metrics``)."""
        states = self.host.tools.breaker_states()
        listed = []
        for tool in self.host.tools.tools():
            state = states[tool.name]
            metrics.tool_breaker.labels(tool.name).set(BREAKER_LEVEL[state])
            listed.append(
                {
                    "name": tool.name,
                    "description": tool.description,
                    "input_schema": tool.input_schema,
                    "timeout_s": tool.timeout_s,
                    "retry_attempts": tool.retry.attempts,
                    "idempotent": tool.idempotent,
                    "destructive": tool.destructive,
                    "source": tool.source,
                    "breaker": state.value,
                }
            )
        return listed

    async def sessions(self) -> dict[str, Any]:
        """Agent sessions: active in this process, its agent pool's size and free slots, and
        running per worker (from the store, so every host's show; None while the store does
        not answer); also set in ``/metrics``."""
        here = {
            "active_here": len(self.host.active),
            "slots_here": self.host.slots,
            "idle_here": max(self.host.slots - len(self.host.active), 0),
        }
        metrics.agent_session_slots.set(self.host.slots)
        try:
            running = await self.jobs.list_jobs(
                None, statuses=frozenset({JobStatus.RUNNING}), kind=KIND, limit=MAX_LIST
            )
        except errors.BerthError:
            return {**here, "per_worker": None}
        per_worker: dict[str, int] = {}
        for job in running:
            worker = job.worker_id or "unknown"
            per_worker[worker] = per_worker.get(worker, 0) + 1
        metrics.agent_sessions_by_worker.clear()
        for worker, count in per_worker.items():
            metrics.agent_sessions_by_worker.labels(worker).set(count)
        return {**here, "per_worker": per_worker}
