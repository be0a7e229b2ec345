"""Each job's folder, ``outputs/YYYYMMDD/<job-id>/``, and the ``job.json`` provenance in it."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import platform
import queue
import threading
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from berth.jobs.job import Job

log = logging.getLogger(__name__)

KEY_PACKAGES = (
    "berth",
    "sqlalchemy",
    "pydantic",
    "torch",
    "transformers",
    "sentence-transformers",
    "diffusers",
    "huggingface-hub",
    "numpy",
)
PROVENANCE_FILE = "job.json"


def job_dir(outputs: Path, job: Job) -> Path:
    """The job's folder: dated by when the job was created (UTC), so retries share it."""
    day = dt.datetime.fromtimestamp(job.created_at, dt.UTC).strftime("%Y%m%d")
    return outputs / day / job.id


def versions() -> dict[str, str]:
    """Python's and the installed key packages' versions."""
    found = {"python": platform.python_version()}
    for name in KEY_PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def _iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat()


def provenance(job: Job, worker_id: str, package_versions: dict[str, str]) -> dict[str, Any]:
    """What ``job.json`` records about a job."""
    queued = (job.started_at - job.created_at) if job.started_at else None
    running = (job.finished_at - job.started_at) if job.finished_at and job.started_at else None
    return {
        "id": job.id,
        "kind": job.kind,
        "model": job.model,
        "input": job.input,
        "priority": job.priority,
        "status": job.status.value,
        "attempts": job.attempts,
        "max_attempts": job.max_attempts,
        "worker": worker_id,
        "timings": {
            "created_at": _iso(job.created_at),
            "started_at": _iso(job.started_at),
            "finished_at": _iso(job.finished_at),
            "queued_seconds": queued,
            "running_seconds": running,
        },
        "result": job.result,
        "error": job.error.to_json() if job.error else None,
        "artifacts": [artifact.to_json() for artifact in job.artifacts],
        "versions": package_versions,
    }


def make_job_dir(folder: Path) -> None:
    """Create the job's folder (a plain mkdir first: it is the common, cheap case)."""
    try:
        os.mkdir(folder)
    except FileExistsError:
        return
    except FileNotFoundError:
        folder.mkdir(parents=True, exist_ok=True)


def write_provenance(folder: Path, record: dict[str, Any]) -> None:
    """Write ``job.json``: created in place the first time, replaced atomically after that.

    Creating a new file is several times cheaper than replacing one on common file systems,
    and the first write is the one every job makes.
    """
    data = (json.dumps(record, indent=2, default=str) + "\n").encode()
    target = folder / PROVENANCE_FILE
    try:
        with open(target, "xb") as file:
            file.write(data)
        return
    except FileExistsError:
        pass
    temporary = folder / f".{PROVENANCE_FILE}.{os.getpid()}.tmp"
    temporary.write_bytes(data)
    temporary.replace(target)


class ProvenanceWriter:
    """Writes ``job.json`` files on one background thread, in order.

    File creation can take a millisecond or more on a busy disk; done on the event loop it
    would cap how many jobs a dispatcher runs per second. The job store stays the source of
    truth: a ``job.json`` lags its job's end by the writer's queue, and :meth:`close` waits
    until every queued file is written.
    """

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[tuple[Path, dict[str, Any]] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._work, name="berth-provenance", daemon=True)
        self._thread.start()

    def write(self, folder: Path, record: dict[str, Any]) -> None:
        """Queue ``record`` to be written as ``folder/job.json``."""
        self._queue.put((folder, record))

    def close(self) -> None:
        """Write everything queued, then stop the thread."""
        self._queue.put(None)
        self._thread.join()

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            folder, record = item
            try:
                make_job_dir(folder)
                write_provenance(folder, record)
            except OSError as exc:
                log.error(
                    "cannot write job.json",
                    extra={
                        "action": "job.provenance_failed",
                        "folder": str(folder),
                        "error": str(exc),
                    },
                )
