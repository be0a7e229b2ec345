"""An agent run survives kill -9 without repeating its tool calls.

A real ``berth worker`` runs an ``agent`` job on the tiny causal LM (random weights) with its
calls forced (``tool_choice: required``, so every turn's output is a valid call by
construction) to ``tally``, a non-idempotent tool that logs each execution when it starts.
The worker is killed with SIGKILL during a call, once two tool results are recorded; a second
worker claims the job when its lease expires and resumes it from its steps. At the end: every
tool execution logged matches a recorded call (a finished one, or the one the kill
interrupted, which is marked interrupted and not made again), no call id has two results, no
model turn was generated twice, and the trace artifact holds every step.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from berth.app import Berth
from berth.jobs.job import JobStatus
from berth.plugins import discover
from berth.settings import Settings
from tests.integration.agent_tools import TALLY, read_tally, with_tool_plugin
from tests.integration.worker_process import WorkerProcess, worker_env
from tests.tiny.causal_lm import build_causal_lm

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(300)]

TURNS = 6
SETTINGS = {
    "BERTH_LEASE_SECONDS": "4",
    "BERTH_HEARTBEAT_SECONDS": "0.3",
    "BERTH_REAP_SECONDS": "0.3",
    "BERTH_POLL_SECONDS": "0.2",
    "BERTH_DRAIN_SECONDS": "5",
    "BERTH_LOAD_WAIT_SECONDS": "120",
}
INPUT = {
    "system": "Count.",
    "input": "Count to ten with the tally tool.",
    "tools": ["tally"],
    "tool_choice": "required",
    "turn_tokens": 64,
    "seed": 7,
    "guardrails": {"max_turns": TURNS, "max_tokens": 10_000},
}


async def wait_for_results(berth: Berth, job_id: str, count: int, worker: WorkerProcess) -> None:
    """Until ``count`` results are recorded and a call is in flight."""
    async with asyncio.timeout(180):
        while True:
            steps = await berth.stores.agent_steps.steps(job_id)
            done = sum(1 for s in steps if s.type == "tool_result")
            if done >= count and steps[-1].type == "tool_call":
                return
            assert worker.process.poll() is None, worker.log()
            job = await berth.services.jobs.get(None, job_id)
            assert not job.status.terminal, job.error
            await asyncio.sleep(0.05)


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
async def test_a_killed_agent_run_resumes_without_repeating_tool_calls(
    kind: str,
    store_url_factory: Callable[[str], str],
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    model_dir = build_causal_lm(tmp_path_factory.getbasetemp() / "tiny-causal-lm-2k", context=2048)
    (home / "catalog.toml").write_text(
        f'[models.tiny]\ntask = "chat"\nrunner = "transformers"\nsource = "local:{model_dir}"\n'
    )
    url = store_url_factory(kind)
    env = with_tool_plugin(worker_env(home, url, SETTINGS), tmp_path / "plugin")
    started: list[WorkerProcess] = []
    registry = discover()
    registry.add_tool(TALLY)  # the submitting host knows the tool its workers run
    async with Berth(Settings(home=home, database_url=url), registry=registry) as berth:
        submitted = await berth.services.jobs.submit(None, "agent", INPUT, model="tiny")
        job_id = submitted.job.id
        try:
            first = WorkerProcess(env, home / "worker-1.log")
            started.append(first)
            await wait_for_results(berth, job_id, 2, first)
            first.kill()
            before = await berth.stores.agent_steps.steps(job_id)
            tally_before = read_tally(home)
            second = WorkerProcess(env, home / "worker-2.log")
            started.append(second)
            job = await berth.services.jobs.follow(None, job_id, poll_seconds=0.1)
            assert await second.stop() == 0, second.log()
        finally:
            for worker in started:
                worker.close()
        steps = await berth.stores.agent_steps.steps(job_id)
        folder = berth.services.jobs.folder(job)

    assert job.status is JobStatus.SUCCEEDED and job.attempts == 2, job.error
    assert job.result is not None and job.result["stop"] == "max_turns"
    assert job.result["resumed_from_steps"] == len(before)
    assert steps[: len(before)] == before, "a step recorded before the kill changed"
    turns = Counter(s.data["turn"] for s in steps if s.type == "model_turn")
    assert sorted(turns) == list(range(TURNS)) and set(turns.values()) == {1}
    results = [s for s in steps if s.type == "tool_result"]
    assert len({s.data["call_id"] for s in results}) == len(results), "a call has two results"
    started_calls = {s.data["call_id"] for s in steps if s.type == "tool_call"}
    assert started_calls == {s.data["call_id"] for s in results}
    interrupted = [s for s in results if s.data.get("interrupted")]
    executions = read_tally(home)
    assert len(interrupted) == 1, "the call in flight at the kill was not marked interrupted"
    assert interrupted[0].data["call_id"] == before[-1].data["call_id"]
    assert len(results) - len(interrupted) <= len(executions) <= len(results), (
        "a tool call ran twice, or ran unrecorded"
    )
    pids = {line.split()[0] for line in executions}
    assert len(pids) == 2, "both workers made calls"
    assert len(tally_before) >= 2
    lines = (folder / "trace.jsonl").read_text().splitlines()
    assert [json.loads(line)["seq"] for line in lines] == [s.seq for s in steps]
    print(
        f"\nagent crash ({kind}): {len(before)} steps and {len(tally_before)} tool calls "
        f"before the kill, {len(interrupted)} interrupted, {len(results)} results in all"
    )
    assert [line for worker in started for line in worker.errors()] == []
