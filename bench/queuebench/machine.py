"""What the benchmark ran on: the machine, Python, and the versions of the queues."""

from __future__ import annotations

import os
import platform
import shutil
import sqlite3
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

PACKAGES = ("berth", "procrastinate", "huey", "sqlalchemy", "psycopg")


def _cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown"
    for line in text.splitlines():
        if line.startswith("model name"):
            return line.partition(":")[2].strip()
    return platform.processor() or "unknown"


def _memory_gib() -> float | None:
    try:
        return round(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**30, 1)
    except (ValueError, OSError):
        return None


def describe() -> dict[str, Any]:
    """The machine, as the JSON summary records it."""
    return {
        "cores": os.cpu_count(),
        "cpu": _cpu_model(),
        "memory_gib": _memory_gib(),
        "gpu": "nvidia" if shutil.which("nvidia-smi") else "none",
        "os": platform.platform(),
        "python": platform.python_version(),
    }


def versions(postgres_server: str) -> dict[str, str]:
    """Versions of the packages and databases under test."""
    found = {"sqlite": sqlite3.sqlite_version, "postgresql": postgres_server}
    for name in PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found
