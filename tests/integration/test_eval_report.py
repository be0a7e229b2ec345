"""An eval run's report (``report.json`` and ``berth_report``) and its goldens, through the
eval service of a real Berth (SQLite, a running dispatcher, the tiny causal LM)."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import pytest

from berth import __version__
from berth.app import Berth
from berth.evals.golden import Golden
from berth.evals.records import RunStatus
from tests.integration.test_eval_job import CONFIG, EXACT, QUESTIONS, berth, completions, finished

pytestmark = pytest.mark.integration
__all__ = ["berth"]
ROWS = [{"item": {"q": q, "a": "x"}} for q in QUESTIONS]


def _upload() -> bytes:
    return "".join(json.dumps(row) + "\n" for row in ROWS).encode()


async def _run(berth: Berth, eval_id: str, file_id: str, **kwargs: Any) -> Any:
    evals = berth.services.evals
    run = await evals.create_run(
        None, eval_id, data_source=completions({"type": "file_id", "id": file_id}, seed=7),
        **kwargs,
    )  # fmt: skip
    return await finished(evals, run)


async def _report_file(berth: Berth, job_id: str) -> dict[str, Any]:
    job = await berth.services.jobs.get(None, job_id)
    assert "report.json" in [a.name for a in job.artifacts]
    _, path = await berth.services.jobs.artifact(None, job_id, "report.json")
    return dict(json.loads(path.read_text(encoding="utf-8")))


def _without_ids_and_timings(report: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in report.items() if k not in ("ids", "timings")}


async def test_the_same_seed_gives_the_same_report(berth: Berth, tmp_path: Path) -> None:
    evals = berth.services.evals
    stored = await berth.services.files.upload(None, "qa.jsonl", "evals", io.BytesIO(_upload()))
    made = await evals.create(None, data_source_config=CONFIG, testing_criteria=[EXACT])
    first = await _run(berth, made.id, stored.id)
    second = await _run(berth, made.id, stored.id)
    assert first.status is RunStatus.COMPLETED and second.status is RunStatus.COMPLETED
    one = await _report_file(berth, first.job_id)
    two = await _report_file(berth, second.job_id)
    assert one["ids"]["run_id"] == first.id and two["ids"]["run_id"] == second.id
    assert _without_ids_and_timings(one) == _without_ids_and_timings(two)
    assert one["dataset"]["sha256"] == hashlib.sha256(_upload()).hexdigest()
    assert one["dataset"]["rows"] == len(ROWS)
    model = one["model"]
    folder = Path(model["source"].removeprefix("local:"))
    weights = next(name for name in model["files"] if name.endswith(".safetensors"))
    expected = hashlib.sha256((folder / weights).read_bytes()).hexdigest()
    assert model["alias"] == "tiny-lm" and model["files"][weights] == expected
    assert one["graders"] == [EXACT] and one["seeds"] == {"sampling": 7}
    assert one["berth"]["version"] == __version__
    assert [s["index"] for s in one["samples"]] == list(range(len(ROWS)))
    assert all(s["completion_tokens"] >= 1 for s in one["samples"])
    assert one["tokens"]["completion"]["total"] == sum(
        s["completion_tokens"] for s in one["samples"]
    )
    latency = one["timings"]["latency_ms"]
    assert latency["count"] == len(ROWS) and 0 < latency["p50"] <= latency["p95"]
    assert await evals.report(None, made.id, first.id) == one


async def test_a_run_that_drifts_from_its_goldens_fails_naming_the_samples(
    berth: Berth,
) -> None:
    evals = berth.services.evals
    stored = await berth.services.files.upload(None, "qa.jsonl", "evals", io.BytesIO(_upload()))
    made = await evals.create(None, data_source_config=CONFIG, testing_criteria=[EXACT])
    baseline = await _run(berth, made.id, stored.id)
    texts = [s["output_text"] for s in (await _report_file(berth, baseline.job_id))["samples"]]
    held = [Golden(index=0, output_text=texts[0]), Golden(index=1, criterion="exact", score=0.0)]
    kept = await _run(berth, made.id, stored.id, golden=held)
    assert kept.status is RunStatus.COMPLETED, kept.error
    drifting = [
        *held,
        Golden(index=2, output_text=texts[2] + " changed"),
        Golden(index=3, criterion="exact", score=1.0, tolerance=0.5),
    ]
    drifted = await _run(berth, made.id, stored.id, golden=drifting)
    assert drifted.status is RunStatus.FAILED and drifted.error is not None
    message = drifted.error["message"]
    assert "2 of 4 pinned samples drifted" in message
    assert "sample 2: output" in message and "sample 3: exact scored 0, pinned 1 ± 0.5" in message
    assert "sample 0" not in message and "sample 1" not in message
    job = await berth.services.jobs.get(None, drifted.job_id)
    assert job.status.value == "failed" and job.attempts == 1
    report = await _report_file(berth, drifted.job_id)
    assert [d["index"] for d in report["golden"]["drifted"]] == [2, 3]
