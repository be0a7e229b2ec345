"""The README's tour, executed: every command in it must work as written."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest

from tests.acceptance.conftest import Cli

pytestmark = pytest.mark.acceptance
README = Path(__file__).resolve().parents[2] / "README.md"


def tour_commands() -> list[list[str]]:
    block = re.search(r"```console\n(.*?)```", README.read_text(), re.DOTALL)
    assert block is not None, "the README has no console block"
    commands = []
    for line in block.group(1).splitlines():
        assert line.startswith("$ .venv/bin/berth "), line
        commands.append(shlex.split(line.removeprefix("$ .venv/bin/berth ")))
    return commands


def test_the_readme_tour_runs(cli: Cli, server: subprocess.Popen[str]) -> None:
    commands = tour_commands()
    assert len(commands) >= 5
    last_id = ""
    for written in commands:
        args = [last_id if arg == "JOB_ID" else arg for arg in written]
        expect_failure = "fail" in args and "--wait" in args
        done = cli(*args, check=not expect_failure)
        if expect_failure:
            assert done.returncode == 1 and "IntentionalFailure: boom" in done.stderr
        if args[:2] == ["jobs", "submit"] and "--wait" not in args:
            last_id = done.stdout.strip()
    assert last_id.startswith("job_")
