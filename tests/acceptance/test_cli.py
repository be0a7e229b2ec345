"""The ``berth`` command, run for real: bad input, the job lifecycle, and shutdown."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from berth.db import migrate
from tests.acceptance.conftest import Cli

pytestmark = pytest.mark.acceptance


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["jobs", "submit", "nope"],
            "There is no job kind 'nope'. Known kinds: agent, echo, embed, eval, eval-dataset, "
            "fail, fine-tune, generate, image, ocr, pull, sleep, speak, train, transcribe, vad, "
            "vector-ingest.",
        ),
        (["jobs", "submit", "echo", "--input", "{bad"], "--input is not valid JSON"),
        (["jobs", "submit", "echo", "--input", "@missing.json"], "Cannot read the input file"),
        (["jobs", "submit", "sleep", "--input", '{"seconds": -1}'], "seconds: Input should be"),
        (["jobs", "show", "job_unknown"], "No job has the id 'job_unknown'."),
        (["jobs", "cancel", "job_unknown"], "No job has the id 'job_unknown'."),
        (
            ["--database-url", "postgresql://postgres@127.0.0.1:1/x", "jobs", "ls"],
            "Cannot open the job store at postgresql://postgres@127.0.0.1:1/x",
        ),
        (["--database-url", "postgress://h/db", "jobs", "ls"], "scheme 'postgress'"),
        (["--database-url", "sqlite://", "jobs", "ls"], "names no file"),
        (["--log-format", "xml", "jobs", "ls"], "--log-format must be 'human' or 'json'"),
    ],
)
def test_bad_input_gets_one_line_and_exit_1(cli: Cli, args: list[str], message: str) -> None:
    done = cli(*args, check=False)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("Error: ") and message in lines[0]


def test_bad_settings_name_the_variable(cli: Cli, berth_env: dict[str, str]) -> None:
    berth_env["BERTH_CONCURRENCY"] = "lots"
    done = cli("jobs", "ls", check=False)
    assert done.returncode == 1
    assert "BERTH_CONCURRENCY: Input should be a valid integer" in done.stderr


def test_a_newer_database_is_refused(cli: Cli, berth_env: dict[str, str]) -> None:
    import sqlite3

    cli("db", "upgrade")
    db = Path(berth_env["BERTH_HOME"]) / "berth.db"
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0999'")
    done = cli("jobs", "ls", check=False)
    assert done.returncode == 1
    assert "newer Berth" in done.stderr and "Upgrade Berth" in done.stderr


def test_db_upgrade_reports_what_it_did(cli: Cli) -> None:
    head = migrate.head()
    assert f"Upgraded the job store from revision (empty) to {head}" in cli("db", "upgrade").stdout
    assert f"up to date (schema revision {head})" in cli("db", "upgrade").stdout


def test_submit_list_show_cancel_without_a_worker(cli: Cli) -> None:
    job_id = cli("jobs", "submit", "echo", "--input", '{"a": 1}', "--priority", "3").stdout.strip()
    assert re.fullmatch(r"job_[0-9a-z]{26}", job_id)
    again = cli("jobs", "submit", "echo", "--idempotency-key", "k1")
    same = cli("jobs", "submit", "echo", "--idempotency-key", "k1")
    assert same.stdout == again.stdout and "idempotency key exists" in same.stderr
    listed = json.loads(cli("jobs", "ls", "--json", "--status", "queued").stdout)
    assert [job["id"] for job in listed][-1] == job_id and len(listed) == 2
    assert job_id in cli("jobs", "ls", "--kind", "echo").stdout
    shown = json.loads(cli("jobs", "show", job_id, "--json").stdout)
    assert (shown["status"], shown["priority"], shown["input"]) == ("queued", 3, {"a": 1})
    assert [e["type"] for e in shown["events"]] == ["queued"]
    assert "Cancelled" in cli("jobs", "cancel", job_id).stdout
    assert "already cancelled" in cli("jobs", "cancel", job_id).stdout


def test_jobs_run_on_a_server_and_are_followed(cli: Cli, server: subprocess.Popen[str]) -> None:
    done = cli("jobs", "submit", "sleep", "--input", '{"seconds": 0.6, "steps": 3}', "--wait")
    assert json.loads(done.stdout) == {"slept": 0.6}
    assert "100%" in done.stderr
    failed = cli(
        "jobs",
        "submit",
        "fail",
        "--input",
        '{"message": "boom"}',
        "--max-attempts",
        "2",
        "--wait",
        check=False,
    )
    assert failed.returncode == 1
    assert "failed: IntentionalFailure: boom" in failed.stderr
    job_id = cli("jobs", "submit", "sleep", "--input", '{"seconds": 60}').stdout.strip()
    deadline = time.monotonic() + 20
    while json.loads(cli("jobs", "show", job_id, "--json").stdout)["status"] != "running":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    cli("jobs", "cancel", job_id)
    waited = cli("jobs", "wait", job_id, check=False)
    assert waited.returncode == 1 and "cancelled" in waited.stderr


def test_sigterm_returns_a_long_job_to_the_queue(
    cli: Cli, server: subprocess.Popen[str], berth_env: dict[str, str], tmp_path: Path
) -> None:
    job_id = cli("jobs", "submit", "sleep", "--input", '{"seconds": 120}').stdout.strip()
    deadline = time.monotonic() + 20
    while json.loads(cli("jobs", "show", job_id, "--json").stdout)["status"] != "running":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    server.send_signal(signal.SIGTERM)
    assert server.wait(30) == 0
    shown = json.loads(cli("jobs", "show", job_id, "--json").stdout)
    assert (shown["status"], shown["attempts"]) == ("queued", 0)
    assert shown["events"][-1]["data"] == {"reason": "shutdown"}
    assert "draining" in (tmp_path / "serve.log").read_text()


def test_json_logs(cli: Cli) -> None:
    done = cli("--log-format", "json", "--log-level", "debug", "db", "upgrade")
    entries = [json.loads(line) for line in done.stderr.splitlines()]
    assert any(entry.get("action") == "db.upgrade" for entry in entries)
