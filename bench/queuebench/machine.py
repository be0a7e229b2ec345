"""What the benchmark ran on: the machine, Python, and the versions of the queues."""

from __future__ import annotations

import os
import platform
import shutil
import sqlite3
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

PACKAGES = ("berth", "procrastinate", "huey", "sqlalchemy", "psycopg")
REPO_ROOT = Path(__file__).resolve().parents[2]


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


def load_average() -> float:
    """The one-minute load average: other work on the machine skews every figure."""
    return round(os.getloadavg()[0], 2)


def _git(*args: str) -> str:
    try:
        done = subprocess.run(
            ["git", "-C", str(REPO_ROOT), *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip()


def berth_revision() -> str:
    """The commit of the Berth under test, with ``+dirty`` if ``src/`` has changes on top."""
    commit = _git("rev-parse", "--short", "HEAD") or "unknown"
    return commit + ("+dirty" if _git("status", "--porcelain", "--", "src") else "")


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
    found = {
        "berth_revision": berth_revision(),
        "sqlite": sqlite3.sqlite_version,
        "postgresql": postgres_server,
    }
    for name in PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found
