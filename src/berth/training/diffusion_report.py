"""The report of an ``eval-dataset`` run, and the journal its per-image results go to.

The journal (``images.jsonl`` in the job's folder) holds one JSON line per measured image,
each written whole and synced before the next image starts; a line cut short by a crash is
ignored, so that image is measured again. The report gathers the journal's records of the
chosen images with what made them (model, folder, settings, Berth's version) and a summary:
mean losses, mean ablation delta and the flagged captions.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import berth
from berth.training.diffusion_data import CaptionedImage

if TYPE_CHECKING:
    from berth.jobs.context import JobContext
    from berth.kinds.eval_dataset import EvalDatasetParams

JOURNAL = "images.jsonl"
FLAGS = ("missing", "empty", "no_effect")


def read_journal(path: Path) -> dict[str, dict[str, Any]]:
    """The records in the journal by image name (none if it does not exist yet)."""
    if not path.is_file():
        return {}
    records: dict[str, dict[str, Any]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and isinstance(record.get("image"), str):
            records[record["image"]] = record
    return records


def write_json(path: Path, value: Any) -> None:
    """Write ``value`` as JSON to ``path`` whole or not at all (temp file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(value, out, indent=2)
            out.write("\n")
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def summary(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean losses and delta over the records, and how many captions each flag caught."""

    def numbers(key: str) -> list[float]:
        return [float(r[key]) for r in records if r.get(key) is not None]

    return {
        "images": len(records),
        "mean_loss_with_caption": _mean(numbers("loss_with_caption")),
        "mean_loss_with_blank": _mean(numbers("loss_with_blank")),
        "mean_ablation_delta": _mean(numbers("ablation_delta")),
        "flagged": {flag: sum(flag in r["flags"] for r in records) for flag in FLAGS},
    }


def build_report(
    ctx: JobContext,
    alias: str,
    params: EvalDatasetParams,
    folder: Path,
    images: list[CaptionedImage],
    records: list[dict[str, Any]],
) -> dict[str, Any]:
    """The whole report of one run over ``records`` (the chosen images, in order)."""
    return {
        "job_name": params.job_name,
        "step": params.step,
        "job_id": ctx.job.id,
        "model": alias,
        "berth_version": berth.__version__,
        "dataset": {
            "folder": str(folder),
            "caption_ext": params.caption_ext,
            "images": len(images),
            "with_caption_file": sum(image.caption is not None for image in images),
            "chosen": len(records),
        },
        "settings": params.model_dump(
            include={
                "samples_per_image",
                "fixed_noise_std",
                "eval_resolution",
                "max_samples",
                "sample_fraction",
                "seed",
                "min_ablation_delta",
            }
        ),
        "summary": summary(records),
        "flagged": [
            {"image": r["image"], "flag": flag, "caption": r["caption"]}
            for r in records
            for flag in r["flags"]
        ],
        "images": [{k: v for k, v in r.items() if k != "attempt"} for r in records],
    }
