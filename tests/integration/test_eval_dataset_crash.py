"""An eval-dataset run survives kill -9 without measuring again the images it finished.

A real ``berth worker`` measures a folder of 24 captioned images on the tiny Stable Diffusion
pipeline and is killed with SIGKILL once a few images are in its journal. A second worker
claims the job when the lease expires. At the end every image has exactly one journal line;
the lines written before the kill are unchanged and say attempt 1, every other says attempt 2,
and the job's result counts only the images left as measured by the second attempt.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from berth.app import Berth
from berth.jobs.job import JobStatus
from berth.jobs.outputs import job_dir
from berth.settings import Settings
from berth.training.diffusion_report import JOURNAL
from tests.integration.worker_process import WorkerProcess, worker_env
from tests.tiny.captioned import build_captioned
from tests.tiny.diffusion import build_tiny_diffusion

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(300)]

IMAGES = 24
KILL_AFTER = 3
SETTINGS = {
    "BERTH_LEASE_SECONDS": "4",
    "BERTH_HEARTBEAT_SECONDS": "0.5",
    "BERTH_REAP_SECONDS": "0.3",
    "BERTH_POLL_SECONDS": "0.2",
    "BERTH_DRAIN_SECONDS": "5",
}


def catalog(model: Path) -> str:
    return f"""
[models.tiny-sd]
task = "image"
runner = "diffusers"
source = "local:{model}"
[models.tiny-sd.options]
transport = "thread"
"""


def lines(path: Path) -> list[dict[str, object]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]


async def wait_for_lines(path: Path, count: int, worker: WorkerProcess) -> None:
    async with asyncio.timeout(180):
        while len(lines(path)) < count:
            assert worker.process.poll() is None, worker.log()
            await asyncio.sleep(0.02)


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
async def test_a_killed_dataset_eval_resumes_without_measuring_again(
    kind: str, store_url_factory: Callable[[str], str], tmp_path: Path
) -> None:
    home = tmp_path / "home"
    model = build_tiny_diffusion(tmp_path / "tiny-sd")
    build_captioned(home / "set", {f"img-{i:02d}": f"caption {i}" for i in range(IMAGES)})
    (home / "catalog.toml").write_text(catalog(model))
    url = store_url_factory(kind)
    env = worker_env(home, url, SETTINGS)
    started: list[WorkerProcess] = []
    data = {"folder_path": "set", "samples_per_image": 8, "eval_resolution": 64}
    async with Berth(Settings(home=home, database_url=url)) as berth:
        submitted = (
            await berth.services.jobs.submit(
                None, "eval-dataset", data, model="tiny-sd", max_attempts=3
            )
        ).job
        journal = job_dir(home / "outputs", submitted) / JOURNAL
        try:
            first = WorkerProcess(env, home / "worker-1.log")
            started.append(first)
            await wait_for_lines(journal, KILL_AFTER, first)
            first.kill()
            before = lines(journal)
            assert KILL_AFTER <= len(before) < IMAGES, "the kill should land mid-run"
            second = WorkerProcess(env, home / "worker-2.log")
            started.append(second)
            job = await berth.services.jobs.follow(None, submitted.id, poll_seconds=0.1)
            assert await second.stop() == 0, second.log()
        finally:
            for worker in started:
                worker.close()
    after = lines(journal)

    assert job.status is JobStatus.SUCCEEDED and job.attempts == 2, job.error
    assert sorted(str(r["image"]) for r in after) == [f"img-{i:02d}.png" for i in range(IMAGES)]
    assert after[: len(before)] == before, "a finished image was measured again"
    assert {r["attempt"] for r in before} == {1}
    assert {r["attempt"] for r in after[len(before) :]} == {2}
    assert job.result is not None
    assert job.result["resumed_with"] == len(before)
    assert job.result["measured"] == IMAGES - len(before)
    assert job.result["summary"]["images"] == IMAGES
    print(f"\ndataset eval crash ({kind}): {len(before)} of {IMAGES} images done at the kill, "
          f"{job.result['measured']} measured after it")  # fmt: skip
    assert [line for worker in started for line in worker.errors()] == []
