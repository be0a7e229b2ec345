"""Agent runs against a running ``berth serve``: a run on the tiny model (calls forced) of a
destructive plugin tool waits for an approval over the API, without running the tool; the
run page shows the call waiting and the timeline; the approval lets it go on, and the tool runs
once, and ``berth agents replay`` of its trace finds the same decisions. Approving a call that
does not wait is refused with what to do; ``/readyz`` and ``/metrics`` report agent sessions
and the tools' breakers. The MCP servers of ``BERTH_MCP_SERVERS`` are tool sources (a broken
one is reported, and the server starts without it); a run naming a tool that is not
registered, or one outside its allowlist, is refused at submit (API and CLI) and nothing is
queued. The job page links to the run page and back."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.acceptance.live import LiveServer, create_key, live_server
from tests.integration.agent_tools import with_tool_plugin
from tests.tiny.causal_lm import build_causal_lm

pytestmark = [pytest.mark.acceptance, pytest.mark.slow]
PROBE = Path(__file__).parents[1] / "integration" / "mcp_probe_server.py"
MCP_SERVERS = [
    {"name": "probe", "command": sys.executable, "args": [str(PROBE)], "timeout": 60},
    {"name": "broken", "command": sys.executable, "args": ["/nonexistent/server.py"]},
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    model_dir = build_causal_lm(tmp_path_factory.getbasetemp() / "tiny-causal-lm-2k", context=2048)
    home = tmp_path_factory.mktemp("agents") / "home"
    home.mkdir(parents=True)
    (home / "catalog.toml").write_text(
        f'[models.tiny]\ntask = "chat"\nrunner = "transformers"\nsource = "local:{model_dir}"\n'
    )
    plugin = with_tool_plugin(os.environ, tmp_path_factory.mktemp("plugin"))
    with live_server(
        home,
        BERTH_LOAD_WAIT_SECONDS="120",
        BERTH_KIND_CONCURRENCY='{"agent": 3}',
        BERTH_MCP_SERVERS=json.dumps(MCP_SERVERS),
        PYTHONPATH=plugin["PYTHONPATH"],
    ) as live:
        yield live


@pytest.fixture(scope="module")
def api(server: LiveServer) -> Iterator[httpx.Client]:
    secret = create_key(server, "agents", "jobs")
    headers = {"Authorization": f"Bearer {secret}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=60) as client:
        yield client


def run_of(api: httpx.Client, job_id: str) -> dict[str, Any]:
    answer = api.get(f"/v1/agents/runs/{job_id}")
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def wait_until(api: httpx.Client, job_id: str, done: Any, seconds: float = 240) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        run = run_of(api, job_id)
        if done(run):
            return run
        assert run["status"] not in ("failed", "cancelled"), run
        time.sleep(0.2)
    raise AssertionError(f"the run did not get there in {seconds} s: {run_of(api, job_id)}")


def run_page(server: LiveServer, api: httpx.Client, job_id: str) -> str:
    return page_of(server, api, f"/agents/runs/{job_id}")


def page_of(server: LiveServer, api: httpx.Client, path: str) -> str:
    """The UI's page at ``path``, as the API's key logged in sees it."""
    secret = api.headers["Authorization"].removeprefix("Bearer ")
    with httpx.Client(base_url=server.url, timeout=30) as browser:
        form = browser.get("/login").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', form)
        assert token is not None
        data = {"csrf_token": token.group(1), "key": secret, "next": path}
        answer = browser.post("/login", data=data, follow_redirects=True)
        assert answer.status_code == 200, answer.text
        return answer.text


def test_a_destructive_call_waits_for_approval_then_runs_once(
    server: LiveServer, api: httpx.Client
) -> None:
    agent = {
        "system": "You manage a database.",
        "input": "Drop a table.",
        "tools": ["drop_table"],
        "tool_choice": "required",
        "parallel_tool_calls": False,
        "turn_tokens": 200,
        "seed": 3,
        "guardrails": {"max_turns": 1, "max_tokens": 1000},
    }
    submitted = api.post("/v1/jobs", json={"kind": "agent", "model": "tiny", "input": agent})
    assert submitted.status_code in (200, 201, 202), submitted.text
    job_id = submitted.json()["id"]
    dropped = Path(server.home) / "dropped.log"
    waiting = wait_until(api, job_id, lambda run: run["waiting"])
    time.sleep(1.0)
    assert not dropped.exists(), "the destructive tool ran before its approval"
    call_id = waiting["waiting"][0]["call_id"]
    page = run_page(server, api, job_id)
    assert f"/agents/runs/{job_id}/approvals/{call_id}" in page and "Approve" in page
    assert "guardrail" in page and "drop_table" in page and 'id="breakers"' in page

    wrong = api.post(f"/v1/agents/runs/{job_id}/approvals/call_nope", json={"approve": True})
    assert wrong.status_code == 404 and call_id in wrong.text, wrong.text
    for call in waiting["waiting"]:
        approved = api.post(
            f"/v1/agents/runs/{job_id}/approvals/{call['call_id']}", json={"approve": True}
        )
        assert approved.status_code == 200, approved.text
    again = api.post(f"/v1/agents/runs/{job_id}/approvals/{call_id}", json={"approve": True})
    assert again.status_code == 400 and "decided already" in again.text

    done = wait_until(api, job_id, lambda run: run["status"] == "succeeded")
    results = [s for s in done["steps"] if s["type"] == "tool_result"]
    assert results and all("dropped" in s["data"]["output"] for s in results), results
    assert len(dropped.read_text().splitlines()) == len(results), "a call ran twice"
    assert done["result"]["stop"] == "max_turns"
    [trace] = Path(server.home).glob(f"outputs/*/{job_id}/trace.jsonl")
    replayed = berth_cli(server, "agents", "replay", str(trace))
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert "1 turns replayed; 0 diverged (none)." in replayed.stdout


def berth_cli(server: LiveServer, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "berth", *args],
        env={**os.environ, "BERTH_HOME": str(server.home), "BERTH_LOAD_WAIT_SECONDS": "120"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_readyz_and_metrics_report_agents(server: LiveServer, api: httpx.Client) -> None:
    ready = httpx.get(f"{server.url}/readyz").json()
    sessions = ready["agent_sessions"]
    assert sessions["active_here"] == 0
    assert sessions["slots_here"] == 3
    assert sessions["idle_here"] == sessions["slots_here"]
    assert isinstance(ready["agent_sessions"]["per_worker"], dict)
    text = httpx.get(f"{server.url}/metrics").text
    assert 'berth_tool_breaker_state{tool="drop_table"} 0.0' in text
    assert "berth_agent_sessions_active" in text
    assert "berth_agent_session_slots" in text
    tools = api.get("/v1/agents/tools").json()["data"]
    drop = next(t for t in tools if t["name"] == "drop_table")
    assert drop["destructive"] and drop["breaker"] == "closed"


def test_the_cli_lists_tools_and_refuses_a_file_that_is_no_trace(
    server: LiveServer, tmp_path: Path
) -> None:
    listed = berth_cli(server, "agents", "tools", "--json")
    assert listed.returncode == 0, listed.stderr
    names = {tool["name"] for tool in json.loads(listed.stdout)}
    assert {"http_fetch", "embed", "transcribe", "ocr", "image"} <= names
    bad = tmp_path / "notes.jsonl"
    bad.write_text('{"type": "model_turn"}\n')
    refused = berth_cli(server, "agents", "replay", str(bad))
    assert refused.returncode == 1
    assert "does not begin with a 'start' step" in refused.stderr


def test_mcp_servers_from_the_settings_are_listed_and_a_broken_one_is_shown(
    server: LiveServer, api: httpx.Client
) -> None:
    listing = api.get("/v1/agents/tools").json()
    names = {tool["name"]: tool for tool in listing["data"]}
    assert names["probe__add"]["source"] == "mcp:probe" and names["probe__wipe"]["destructive"]
    sources = {source["name"]: source for source in listing["sources"]}
    assert sources["probe"]["status"] == "ok"
    assert sources["probe"]["tools"] == ["probe__add", "probe__wipe"]
    assert sources["broken"]["status"] == "failed"
    assert "entry 2 ('broken')" in sources["broken"]["error"]
    ready = httpx.get(f"{server.url}/readyz")
    assert ready.status_code == 200
    shown = {source["name"]: source["status"] for source in ready.json()["tool_sources"]}
    assert shown == {"probe": "ok", "broken": "failed"}
    assert "tools.source_failed" in server.log.read_text()


def queued_count(api: httpx.Client) -> int:
    return len(api.get("/v1/jobs", params={"kind": "agent", "limit": 1000}).json()["data"])


def test_unknown_or_disallowed_tools_are_refused_at_submit(
    server: LiveServer, api: httpx.Client
) -> None:
    before = queued_count(api)
    unknown = {"input": "Hi.", "tools": ["probe__add", "no_such_tool"]}
    refused = api.post("/v1/jobs", json={"kind": "agent", "model": "tiny", "input": unknown})
    assert refused.status_code == 400, refused.text
    message = refused.json()["error"]["message"]
    assert "'no_such_tool'" in message and "probe__add" in message and "drop_table" in message
    outside = {"input": "Hi.", "tools": ["drop_table"], "guardrails": {"tools": ["probe__add"]}}
    refused = api.post("/v1/jobs", json={"kind": "agent", "model": "tiny", "input": outside})
    assert refused.status_code == 400, refused.text
    assert "'drop_table'" in refused.json()["error"]["message"]
    assert "guardrails.tools" in refused.json()["error"]["message"]
    cli = berth_cli(
        server,
        "jobs",
        "submit",
        "agent",
        "--model",
        "tiny",
        "--input",
        json.dumps({"input": "Hi.", "tools": ["no_such_tool"]}),
    )
    assert cli.returncode != 0 and "'no_such_tool'" in cli.stderr, cli.stdout + cli.stderr
    assert queued_count(api) == before, "a refused run was queued"


def test_the_job_page_links_to_the_run_page_and_back(server: LiveServer, api: httpx.Client) -> None:
    agent = {"input": "Say hi.", "turn_tokens": 4, "guardrails": {"max_turns": 1}}
    submitted = api.post("/v1/jobs", json={"kind": "agent", "model": "tiny", "input": agent})
    assert submitted.status_code in (200, 201, 202), submitted.text
    job_id = submitted.json()["id"]
    run = run_page(server, api, job_id)
    assert f'id="job-page" href="/jobs/{job_id}"' in run
    job = page_of(server, api, f"/jobs/{job_id}")
    assert f'id="kind-page" href="/agents/runs/{job_id}"' in job
    sleep = api.post("/v1/jobs", json={"kind": "sleep", "input": {"seconds": 0.1}}).json()
    assert 'id="kind-page"' not in page_of(server, api, f"/jobs/{sleep['id']}")
