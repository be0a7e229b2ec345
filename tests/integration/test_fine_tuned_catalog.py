"""The fine-tuned models in the catalog come back at start-up: every recorded checkpoint of a
job (finished or not) and a succeeded job's final adapter, each over its base's files and
pinned to its adapter's sha256."""

from __future__ import annotations

from pathlib import Path

import pytest

from berth.app import Berth
from berth.settings import Settings
from berth.training.record import FineTuningCheckpoint, FineTuningJob, FineTuningStatus
from tests.tiny.causal_lm import session_causal_lm

pytestmark = [pytest.mark.integration]
MODEL = "tiny-lm"


def checkpoint(tune: FineTuningJob, step: int, folder: Path) -> FineTuningCheckpoint:
    return FineTuningCheckpoint(
        id=f"ftckpt-{tune.id[-4:]}{step:04d}",
        job_id=tune.id,
        created_at=float(step),
        step=step,
        metrics={"train_loss": 1.0 / step},
        path=str(folder / f"step-{step:08d}"),
        sha256=f"{step:064x}",
        fine_tuned_model_checkpoint=f"ft-{MODEL}-{tune.id[-8:]}-step-{step}",
    )


async def test_checkpoints_and_finished_adapters_are_served_after_a_restart(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    base = session_causal_lm(tmp_path_factory)
    home = tmp_path / "home"
    home.mkdir()
    (home / "catalog.toml").write_text(
        f'[models.{MODEL}]\ntask = "chat"\nrunner = "transformers"\nsource = "local:{base}"\n'
    )
    settings = Settings(home=home)
    done = FineTuningJob(
        "ftjob-aaaaaaaaaaaaaaaa11111111", MODEL, "file-x", 1.0,
        status=FineTuningStatus.SUCCEEDED, fine_tuned_model=f"ft-{MODEL}-11111111",
    )  # fmt: skip
    running = FineTuningJob(
        "ftjob-bbbbbbbbbbbbbbbb22222222", MODEL, "file-x", 2.0, status=FineTuningStatus.RUNNING
    )
    async with Berth(settings) as berth:
        for tune in (done, running):
            await berth.stores.fine_tuning.add(tune)
            for step in (10, 20):
                await berth.stores.fine_tuning.add_checkpoint(checkpoint(tune, step, tmp_path))
    async with Berth(settings) as berth:
        catalog = berth.catalog
        for tune in (done, running):
            for step in (10, 20):
                spec = catalog.get(checkpoint(tune, step, tmp_path).fine_tuned_model_checkpoint)
                options = spec.options.runner_options
                assert options["adapter"] == str(tmp_path / f"step-{step:08d}")
                assert options["adapter_sha256"] == f"{step:064x}"
                assert spec.source == f"local:{base}" and spec.task.value == "chat"
        final = catalog.get(f"ft-{MODEL}-11111111").options.runner_options
        assert final["adapter"] == str(tmp_path / "step-00000020")
        assert f"ft-{MODEL}-22222222" not in catalog
