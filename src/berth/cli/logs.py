"""Logging for the CLI: readable lines by default, one JSON object per line with ``json``.

Only the CLI configures logging; the library just logs, with a stable ``action`` key and
structured fields passed as ``extra``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from typing import Any, Literal

LogFormat = Literal["human", "json"]
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {key: value for key, value in vars(record).items() if key not in _STANDARD}


class HumanFormatter(logging.Formatter):
    """``13:55:01 INFO  job started  action=job.started job=job_01h...``"""

    def format(self, record: logging.LogRecord) -> str:
        when = dt.datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        fields = " ".join(f"{key}={value}" for key, value in _fields(record).items())
        line = f"{when} {record.levelname:<7} {record.getMessage()}"
        if fields:
            line += f"  {fields}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log shippers."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **_fields(record),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure(level: str, fmt: LogFormat) -> None:
    """Send Berth's logs to stderr in the chosen format; quiet chatty libraries."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else HumanFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("berth").setLevel(level.upper())
    logging.getLogger("alembic").setLevel(logging.WARNING)
