from __future__ import annotations

import json
import logging

import pytest

from berth.cli.logs import HumanFormatter, JsonFormatter

pytestmark = pytest.mark.unit


def make_record() -> logging.LogRecord:
    return logging.makeLogRecord(
        {
            "name": "berth.jobs",
            "levelno": logging.INFO,
            "levelname": "INFO",
            "msg": "job %s",
            "args": ("succeeded",),
            "action": "job.succeeded",
            "job": "job_1",
        }
    )


def test_json_lines_carry_the_action_and_fields() -> None:
    entry = json.loads(JsonFormatter().format(make_record()))
    assert entry["message"] == "job succeeded"
    assert (entry["action"], entry["job"], entry["level"]) == ("job.succeeded", "job_1", "info")
    assert entry["logger"] == "berth.jobs" and entry["ts"].endswith("+00:00")


def test_human_lines_are_readable() -> None:
    line = HumanFormatter().format(make_record())
    assert "INFO" in line and "job succeeded" in line
    assert line.endswith("action=job.succeeded job=job_1")
