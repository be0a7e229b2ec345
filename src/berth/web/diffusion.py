"""Pages of image-model jobs: a ``train`` run (loss curve, checkpoints with the model each is
served as and the sample images drawn at each step, and the finished adapter's model with how
to call it) and an ``eval-dataset`` report (losses, ablation and flagged captions).
Both reload themselves while the job runs."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from berth import errors
from berth.http.runtime import services
from berth.jobs.job import Job, JobStatus
from berth.keys.key import Scope
from berth.services.trained_images import checkpoint_alias, trained_name
from berth.training.checkpoints import CheckpointStore
from berth.training.diffusion_config import TrainConfig
from berth.training.diffusion_report import JOURNAL, summary
from berth.web.access import Visitor
from berth.web.render import page, shown

router = APIRouter(include_in_schema=False)
SAMPLE = re.compile(r"^sample_(\d{6})_(\d+)\.png$")
REPORT = re.compile(r"^.+_\d{6}\.json$")
WIDTH, HEIGHT, MARGIN = 640, 240, 32
SERVING = frozenset({JobStatus.RUNNING, JobStatus.SUCCEEDED})
"""A ``train`` job whose checkpoints are served: running, or succeeded (and so restored at
start-up)."""


def points(steps: list[tuple[float, float]], top: float, last_step: float) -> str:
    """An SVG polyline's points for (step, loss) pairs, scaled into the chart."""
    span_x, span_y = max(last_step, 1.0), max(top, 1e-9)
    inner_w, inner_h = WIDTH - 2 * MARGIN, HEIGHT - 2 * MARGIN
    return " ".join(
        f"{MARGIN + inner_w * step / span_x:.1f},{MARGIN + inner_h * (1 - loss / span_y):.1f}"
        for step, loss in steps
    )


def _of_kind(job: Job, kind: str) -> None:
    if job.kind != kind:
        raise errors.InvalidRequest(
            f"Job '{job.id}' is a '{job.kind}' job; this page shows '{kind}' jobs. Open "
            f"/jobs/{job.id} instead."
        )


def _json_lines(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    found = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            found.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return found


def loss_chart(folder: Path, total: int) -> dict[str, Any]:
    """The training loss by step, from the run's ``loss.jsonl``."""
    steps = [(float(e["step"]), float(e["loss"])) for e in _json_lines(folder / "loss.jsonl")]
    top = max((loss for _, loss in steps), default=1.0)
    last = steps[-1] if steps else (0.0, None)
    return {"width": WIDTH, "height": HEIGHT, "train": points(steps, top, float(total)),
            "top": top, "step": int(last[0]), "loss": last[1]}  # fmt: skip


def samples_by_step(job: Job) -> dict[int, list[str]]:
    """The sample images' download URLs, by the step they were drawn at."""
    by_step: dict[int, list[tuple[int, str]]] = {}
    for artifact in job.artifacts:
        if match := SAMPLE.match(artifact.name):
            url = f"/v1/jobs/{job.id}/artifacts/{artifact.name}"
            by_step.setdefault(int(match[1]), []).append((int(match[2]), url))
    return {step: [url for _, url in sorted(found)] for step, found in sorted(by_step.items())}


def model_name(job: Job) -> str | None:
    """The alias the job's final adapter is (or will be) served as."""
    given = job.input.get("job_name") if isinstance(job.input, dict) else None
    job_name = given if isinstance(given, str) else TrainConfig.model_fields["job_name"].default
    return trained_name(job.model, job_name, job.id) if job.model else None


@router.get("/training/{job_id}")
async def train_page(job_id: str, request: Request) -> Response:
    async def build(who: Visitor) -> Response:
        jobs = services(request).jobs
        job = await jobs.get(who.key, job_id)
        _of_kind(job, "train")
        folder = jobs.folder(job)
        total = int(job.input["train"]["steps"]) if isinstance(job.input, dict) else 0
        store = CheckpointStore(folder / "checkpoints")
        saved = [found for p in store.saved() if (found := store.read(p)) is not None]
        samples = samples_by_step(job)
        steps = sorted({c.step for c in saved} | set(samples))
        name = model_name(job) if job.status in SERVING else None
        rows = [
            {"step": step, "checkpoint": next((c for c in saved if c.step == step), None),
             "samples": samples.get(step, []),
             "model": checkpoint_alias(name, step) if name else None}
            for step in steps
        ]  # fmt: skip
        context = {
            "title": f"Training {job.id}",
            "job": job,
            "total": total,
            "chart": loss_chart(folder, total),
            "rows": rows,
            "served": job.result.get("served_model") if isinstance(job.result, dict) else None,
            "live": not job.status.terminal,
        }
        return page(request, who, "diffusion_train.html", context)

    return await shown(request, Scope.JOBS, build)


def dataset_report(job: Job, folder: Path) -> dict[str, Any]:
    """The finished report, or what the journal holds so far while the job runs."""
    named = sorted(a.name for a in job.artifacts if REPORT.match(a.name))
    if named:
        report: dict[str, Any] = json.loads((folder / named[-1]).read_text(encoding="utf-8"))
        report["file"] = named[-1]
        return report
    records = _json_lines(folder / JOURNAL)
    return {"images": records, "summary": summary(records), "file": None,
            "flagged": [{"image": r["image"], "flag": f, "caption": r["caption"]}
                        for r in records for f in r["flags"]]}  # fmt: skip


@router.get("/datasets/{job_id}")
async def dataset_page(job_id: str, request: Request) -> Response:
    async def build(who: Visitor) -> Response:
        jobs = services(request).jobs
        job = await jobs.get(who.key, job_id)
        _of_kind(job, "eval-dataset")
        context = {
            "title": f"Dataset evaluation {job.id}",
            "job": job,
            "report": dataset_report(job, jobs.folder(job)),
            "live": not job.status.terminal,
        }
        return page(request, who, "diffusion_dataset.html", context)

    return await shown(request, Scope.JOBS, build)
