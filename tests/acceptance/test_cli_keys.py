"""``berth keys``, run for real: create, list, revoke, and one-line errors for bad input."""

from __future__ import annotations

import json
import re

import pytest

from tests.acceptance.conftest import Cli

pytestmark = pytest.mark.acceptance


def test_create_list_and_revoke(cli: Cli) -> None:
    created = cli(
        "keys", "create", "--name", "ci", "--scopes", "jobs,infer",
        "--models", "qwen3-0.6b,all-minilm-l6-v2", "--rate", "60/min", "--max-jobs", "3",
    )  # fmt: skip
    secret = created.stdout.strip()
    assert re.fullmatch(r"berth_[A-Za-z0-9_-]{32,}", secret), created.stdout
    key_id = re.search(r"Created API key (key_\w+) \(ci\)", created.stderr)
    assert key_id is not None, created.stderr
    assert "cannot show it again" in created.stderr
    cli("keys", "create", "--name", "viewer", "--scopes", "infer")

    listed = cli("keys", "ls", "--json").stdout
    assert secret not in listed and secret[len("berth_") + 8 :] not in listed
    keys = json.loads(listed)
    assert [key["name"] for key in keys] == ["ci", "viewer"]
    assert keys[0] == {
        "id": key_id.group(1),
        "name": "ci",
        "prefix": secret[: len("berth_") + 8],
        "scopes": ["infer", "jobs"],
        "models": ["qwen3-0.6b", "all-minilm-l6-v2"],
        "rate_per_minute": 60,
        "max_jobs": 3,
        "created_at": keys[0]["created_at"],
        "last_used_at": None,
        "revoked_at": None,
    }
    assert keys[1]["models"] is None and keys[1]["rate_per_minute"] is None

    table = cli("keys", "ls").stdout
    for header in ("ID", "NAME", "PREFIX", "SCOPES", "MODELS", "RATE", "MAX JOBS", "LAST USED"):
        assert header in table
    assert "60/min" in table and "infer,jobs" in table

    assert cli("keys", "revoke", "ci").stdout.strip() == f"Revoked {key_id.group(1)} (ci)."
    assert "already revoked" in cli("keys", "revoke", key_id.group(1)).stdout
    after = {key["name"]: key for key in json.loads(cli("keys", "ls", "--json").stdout)}
    assert after["ci"]["revoked_at"] is not None and after["viewer"]["revoked_at"] is None
    cli("keys", "create", "--name", "ci", "--scopes", "jobs")


def test_create_can_print_json(cli: Cli) -> None:
    record = json.loads(cli("keys", "create", "--name", "n", "--scopes", "admin", "--json").stdout)
    assert record["secret"].startswith(record["prefix"])
    assert record["scopes"] == ["admin"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scopes", "jobs,root"], "Unknown scope 'root'. Use one or more of infer, jobs, admin"),
        (["--scopes", "jobs", "--rate", "ten/min"], "The rate 'ten/min' is not a rate"),
        (["--scopes", "jobs", "--rate", "0/min"], "The rate must be between 1 and"),
        (["--scopes", "jobs", "--max-jobs", "0"], "Max jobs must be between 1 and"),
        (["--scopes", "jobs", "--models", "a,,b"], "The model list has an empty entry"),
        (["--scopes", "jobs", "--name", "two words"], "The key name 'two words' is not allowed"),
    ],
)
def test_bad_keys_get_one_line_and_exit_1(cli: Cli, args: list[str], message: str) -> None:
    name = [] if "--name" in args else ["--name", "ci"]
    done = cli("keys", "create", *name, *args, check=False)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("Error: ") and message in lines[0]
    assert done.stdout == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["revoke", "nobody"], "No API key has the id or name 'nobody'."),
        (["create", "--name", "ci", "--scopes", "jobs"], "An active API key is already named"),
    ],
)
def test_bad_requests_get_one_line_and_exit_1(cli: Cli, args: list[str], message: str) -> None:
    cli("keys", "create", "--name", "ci", "--scopes", "jobs")
    done = cli("keys", *args, check=False)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("Error: ") and message in lines[0]
