"""Image-model jobs end to end on a real ``berth serve`` holding the tiny Stable Diffusion
pipeline: ``berth run train.yaml`` queues a LoRA run and ``berth run`` a dataset evaluation;
the UI's training page shows the checkpoints with their sample images, the dataset page the
report; a bad train file is refused with its file, line and field before anything is queued."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import openai
import pytest
from PIL import Image

from tests.acceptance.live import LiveServer, create_key, live_server
from tests.tiny.captioned import build_captioned
from tests.tiny.diffusion import build_tiny_diffusion

pytestmark = [pytest.mark.acceptance, pytest.mark.slow, pytest.mark.timeout(600)]

TRAIN = """\
kind: train
model: tiny-sd
input:
  job_name: pages
  datasets:
    - {folder_path: set, caption_ext: txt, resolution: 64}
  network: {rank: 4, alpha: 4}
  train: {steps: 6, lr: 1.0e-3, batch_size: 1, seed: 0}
  save_every: 3
  sample_every: 3
  sample: {prompts: ["a cat", "a dog"], steps: 2}
"""
EVAL = """\
kind: eval-dataset
model: tiny-sd
input: {folder_path: set, eval_resolution: 64, samples_per_image: 2, job_name: pages, step: 6}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    model = build_tiny_diffusion(tmp_path_factory.mktemp("tiny-sd"))
    home = tmp_path_factory.mktemp("serve") / "home"
    build_captioned(home / "set", {"a": "a cat", "b": None})
    (home / "catalog.toml").write_text(
        f'[models.tiny-sd]\ntask = "image"\nrunner = "diffusers"\nsource = "local:{model}"\n'
    )
    with live_server(home) as live:
        yield live


def berth_run(
    server: LiveServer, name: str, text: str, *, detach: bool = True
) -> subprocess.CompletedProcess[str]:
    (server.home / name).write_text(text)
    return subprocess.run(
        [sys.executable, "-m", "berth", "run", name, *(["--detach"] if detach else [])],
        env={**os.environ, "BERTH_HOME": str(server.home)},
        cwd=server.home,
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )


def finished(server: LiveServer, secret: str, job_id: str) -> dict[str, object]:
    headers = {"Authorization": f"Bearer {secret}"}
    deadline = time.monotonic() + 400
    while time.monotonic() < deadline:
        job: dict[str, object] = httpx.get(
            f"{server.url}/v1/jobs/{job_id}", headers=headers, timeout=30
        ).json()
        if job["status"] in {"succeeded", "failed", "cancelled"}:
            return job
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} did not finish")


@contextmanager
def logged_in(server: LiveServer, secret: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as browser:
        yield login(browser, secret)


def login(browser: httpx.Client, secret: str) -> httpx.Client:
    form = browser.get("/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert token is not None
    data = {"csrf_token": token.group(1), "key": secret, "next": "/"}
    assert browser.post("/login", data=data, follow_redirects=True).status_code == 200
    return browser


def test_train_and_dataset_pages(server: LiveServer) -> None:
    secret = create_key(server, "painter", "admin,jobs,infer")
    trained = berth_run(server, "train.yaml", TRAIN)
    assert trained.returncode == 0, trained.stderr
    evaluated = berth_run(server, "eval.yaml", EVAL)
    assert evaluated.returncode == 0, evaluated.stderr
    train_id, eval_id = trained.stdout.strip(), evaluated.stdout.strip()
    job = finished(server, secret, train_id)
    assert job["status"] == "succeeded", job["error"]
    assert finished(server, secret, eval_id)["status"] == "succeeded"

    with logged_in(server, secret) as browser:
        training = browser.get(f"/training/{train_id}")
        assert training.status_code == 200, training.text
        images = re.findall(r'<img src="([^"]+)" alt="Sample (\d) at step (\d+)"', training.text)
        assert sorted((step, k) for _, k, step in images) == [
            ("3", "0"), ("3", "1"), ("6", "0"), ("6", "1")
        ]  # fmt: skip
        assert browser.get(images[0][0]).content[:4] == b"\x89PNG"
        assert "6 of 6" in training.text
        served = job["result"]["served_model"]  # type: ignore[index]
        assert f"Served as <code>{served}</code>" in training.text
        assert f"<code>{served}-step-3</code>" in training.text
        report = browser.get(f"/datasets/{eval_id}")
        assert report.status_code == 200, report.text
        assert "pages_000006.json" in report.text
        assert "(no caption file)" in report.text and "missing" in report.text
        wrong = browser.get(f"/training/{eval_id}")
        assert "this page shows &#39;train&#39; jobs" in wrong.text


def test_a_bad_train_file_is_refused_before_queueing(server: LiveServer) -> None:
    refused = berth_run(server, "bad.yaml", TRAIN.replace("lr: 1.0e-3", "lr: -1"))
    assert refused.returncode != 0
    message = " ".join(refused.stderr.split())
    assert f"{Path('bad.yaml')}, line 8, field input.train.lr" in message, refused.stderr


def drawn(client: openai.OpenAI, model: str) -> bytes:
    answer = client.images.generate(
        model=model,
        prompt="a cat",
        size="64x64",
        response_format="b64_json",
        extra_body={"seed": 0, "steps": 2, "guidance_scale": 1.0},
    )
    assert answer.data is not None
    return base64.b64decode(answer.data[0].b64_json or "")


def pixels(png: bytes) -> Any:
    with Image.open(io.BytesIO(png)) as image:
        return np.asarray(image.convert("RGB"), dtype=np.int16)


def test_berth_run_names_the_served_model_and_it_draws_like_the_samples(
    server: LiveServer,
) -> None:
    secret = create_key(server, "runner", "admin,jobs,infer")
    text = TRAIN.replace("pages", "follow").replace("lr: 1.0e-3", "lr: 2.0e-2")
    trained = berth_run(server, "follow.yaml", text, detach=False)
    assert trained.returncode == 0, trained.stderr
    result = json.loads(trained.stdout)
    served = result["served_model"]
    assert re.fullmatch(r"ft-tiny-sd-follow-[0-9a-z]{8}", served), served
    assert f"Served as model {served}" in " ".join(trained.stderr.split())

    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key=secret, max_retries=0, timeout=300)
    assert served in {model.id for model in client.models.list()}
    tuned, base = drawn(client, served), drawn(client, "tiny-sd")
    headers = {"Authorization": f"Bearer {secret}"}
    jobs = httpx.get(f"{server.url}/v1/jobs", params={"kind": "train"}, headers=headers).json()
    [job_id] = [j["id"] for j in jobs["data"] if (j["result"] or {}).get("served_model") == served]
    sample = httpx.get(
        f"{server.url}/v1/jobs/{job_id}/artifacts/sample_000006_0.png", headers=headers, timeout=30
    ).content
    assert np.abs(pixels(tuned) - pixels(base)).mean() > 1.0
    assert np.abs(pixels(tuned) - pixels(sample)).max() <= 2
