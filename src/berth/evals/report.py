"""A run's report (``report.json`` in its job's folder, and ``berth_report`` on the API object):
what was evaluated and how it came out, with the provenance to do it again.

It records the dataset (sha256 and row count), the model (alias, source, revision, file
hashes), the graders, the seeds, Berth's version and git commit, the result counts, and per
sample the status, output and tokens. What depends on the clock or on ids is kept apart
(``ids``, ``timings``), so two runs with the same seed on CPU give reports equal but for them.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from berth import __version__
from berth.evals.records import Eval, EvalRun, OutputItem, counts_of
from berth.evals.sources import Row

Json = dict[str, Any]
REPORT_FILE = "report.json"
FORMAT = 1


@dataclass(frozen=True)
class Dataset:
    """The rows a run read: their sha256 (of the file, or of the inline rows as JSONL)."""

    sha256: str
    rows: int
    source: Json

    def as_json(self) -> Json:
        return {"sha256": self.sha256, "rows": self.rows, "source": self.source}


def inline_digest(rows: list[Row]) -> str:
    """The sha256 of inline rows written as canonical JSONL (sorted keys, one row a line)."""
    digest = hashlib.sha256()
    for row in rows:
        digest.update(json.dumps(row.model_dump(exclude_none=True), sort_keys=True).encode())
        digest.update(b"\n")
    return digest.hexdigest()


@dataclass(frozen=True)
class ModelFacts:
    """The model a run asked: catalog alias and source, the revision it was pulled at, and the
    sha256 of each of its files (from the cache manifest, else the catalog)."""

    alias: str
    source: str
    revision: str | None = None
    files: dict[str, str] = field(default_factory=dict)

    def as_json(self) -> Json:
        return {"alias": self.alias, "source": self.source, "revision": self.revision,
                "files": dict(sorted(self.files.items()))}  # fmt: skip

    @classmethod
    def of(cls, data: Json) -> ModelFacts:
        return cls(str(data["alias"]), str(data["source"]), data.get("revision"),
                   dict(data.get("files") or {}))  # fmt: skip


def hash_folder(folder: Path) -> dict[str, str]:
    """The sha256 of every file under ``folder`` (a local model with no recorded hashes)."""
    found: dict[str, str] = {}
    if not folder.is_dir():
        return found
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest = hashlib.sha256()
        with path.open("rb") as stream:
            while chunk := stream.read(1 << 20):
                digest.update(chunk)
        found[path.relative_to(folder).as_posix()] = digest.hexdigest()
    return found


@functools.cache
def git_commit() -> str | None:
    """The git commit Berth runs from, when its code is a git checkout (else None)."""
    here = Path(__file__).resolve().parent
    try:
        done = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"],
            capture_output=True, text=True, timeout=5, check=False,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and len(commit) == 40 else None


def percentile(values: list[float], share: float) -> float | None:
    """The ``share`` percentile of ``values`` (nearest rank); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def _spread(values: list[float]) -> Json:
    return {"p50": percentile(values, 0.50), "p95": percentile(values, 0.95),
            "total": sum(values), "count": len(values)}  # fmt: skip


def _sample(item: OutputItem) -> Json:
    usage = item.sample.get("usage") or {}
    return {
        "index": item.index,
        "status": item.status,
        "output_text": item.sample.get("output_text"),
        "prompt_tokens": int(usage.get("prompt_tokens", 0)),
        "completion_tokens": int(usage.get("completion_tokens", 0)),
        "grades": [
            {"name": r.get("name"), "score": r.get("score"), "passed": r.get("passed")}
            for r in item.results
        ],
    }


def build(
    found: Eval,
    run: EvalRun,
    dataset: Dataset,
    model: ModelFacts | None,
    seed: int | None,
    items: list[OutputItem],
) -> Json:
    """The report of ``run`` from its recorded output items (ordered by index)."""
    ordered = sorted(items, key=lambda item: item.index)
    counts, per = counts_of(ordered, [str(c.get("name")) for c in found.testing_criteria])
    samples = [_sample(item) for item in ordered]
    latencies = [float(i.sample["latency_ms"]) for i in ordered if "latency_ms" in i.sample]
    return {
        "format": FORMAT,
        "ids": {"eval_id": found.id, "run_id": run.id, "job_id": run.job_id},
        "eval": found.name,
        "run": run.name,
        "dataset": dataset.as_json(),
        "model": model.as_json() if model is not None else None,
        "graders": found.testing_criteria,
        "seeds": {"sampling": seed},
        "berth": {"version": __version__, "git_commit": git_commit()},
        "result_counts": counts.as_json(),
        "per_testing_criteria_results": [c.as_json() for c in per],
        "tokens": {
            "prompt": _spread([float(s["prompt_tokens"]) for s in samples]),
            "completion": _spread([float(s["completion_tokens"]) for s in samples]),
        },
        "samples": samples,
        "timings": {
            "latency_ms": _spread(latencies),
            "per_sample_latency_ms": {str(i.index): i.sample.get("latency_ms") for i in ordered},
        },
    }


def write(folder: Path, report: Json) -> Path:
    """Write ``report`` as ``report.json`` in ``folder`` (via a temporary file)."""
    path = folder / REPORT_FILE
    partial = folder / f".{REPORT_FILE}.partial"
    partial.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    partial.replace(path)
    return path
