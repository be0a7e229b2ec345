"""``POST /v1/images/generations`` on a live ``berth serve`` with a tiny Stable Diffusion model
in the user catalog, driven by the official ``openai`` client."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from typing import Literal

import httpx
import openai
import pytest
from PIL import Image

from tests.acceptance.live import LiveServer, create_key, live_server
from tests.tiny.diffusion import build_tiny_diffusion

pytestmark = [pytest.mark.acceptance, pytest.mark.slow]
ALIAS = "tiny-sd"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    model = build_tiny_diffusion(tmp_path_factory.mktemp("tiny-sd"))
    home = tmp_path_factory.mktemp("serve") / "home"
    home.mkdir()
    (home / "catalog.toml").write_text(
        f"""
[models.{ALIAS}]
task = "image"
runner = "diffusers"
source = "local:{model}"
description = "A tiny random Stable Diffusion pipeline for tests."

[models.{ALIAS}.options]
max_batch_size = 2
"""
    )
    with live_server(home, BERTH_LOAD_WAIT_SECONDS="180") as live:
        yield live


@pytest.fixture(scope="module")
def secret(server: LiveServer) -> str:
    return create_key(server, "images", "infer,jobs")


@pytest.fixture(scope="module")
def client(server: LiveServer, secret: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=secret, max_retries=0, timeout=180)


def png_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG"
        return image.size


def test_base64_images_with_a_seed(client: openai.OpenAI) -> None:
    def ask() -> openai.types.ImagesResponse:
        return client.images.generate(
            model=ALIAS,
            prompt="a small red boat",
            n=2,
            size="64x64",
            response_format="b64_json",
            extra_body={"seed": 21, "steps": 2},
        )

    first, again = ask(), ask()
    assert first.data is not None and again.data is not None
    assert len(first.data) == 2 and first.created > 0
    pngs = [base64.b64decode(item.b64_json or "") for item in first.data]
    assert [png_size(png) for png in pngs] == [(64, 64), (64, 64)]
    assert pngs[0] != pngs[1]
    assert [base64.b64decode(item.b64_json or "") for item in again.data] == pngs
    assert first.model_extra is not None
    assert (first.model_extra["seed"], first.model_extra["steps"]) == (21, 2)


def test_the_seed_used_is_reported_in_a_header(client: openai.OpenAI) -> None:
    raw = client.images.with_raw_response.generate(
        model=ALIAS, prompt="a hill", size="64x96", extra_body={"steps": 1}
    )
    seed = int(raw.headers["x-berth-seed"])
    answer = raw.parse()
    assert answer.data is not None
    assert answer.model_extra is not None and answer.model_extra["seed"] == seed
    assert png_size(base64.b64decode(answer.data[0].b64_json or "")) == (64, 96)


def test_urls_point_at_the_artifacts_of_an_image_job(
    client: openai.OpenAI, server: LiveServer, secret: str
) -> None:
    answer = client.images.generate(
        model=ALIAS,
        prompt="a lighthouse",
        size="96x64",
        response_format="url",
        extra_body={"steps": 2, "negative_prompt": "fog"},
    )
    assert answer.data is not None
    [item] = answer.data
    assert item.url is not None and item.url.startswith(f"{server.url}/v1/jobs/")
    auth = {"Authorization": f"Bearer {secret}"}
    fetched = httpx.get(item.url, headers=auth, timeout=30)
    assert fetched.status_code == 200, fetched.text
    assert fetched.headers["content-type"] == "image/png"
    assert png_size(fetched.content) == (96, 64)
    assert answer.model_extra is not None
    job = httpx.get(f"{server.url}/v1/jobs/{answer.model_extra['job']}", headers=auth).json()
    assert (job["kind"], job["status"], job["model"]) == ("image", "succeeded", ALIAS)
    assert job["input"]["seed"] == answer.model_extra["seed"] == job["result"]["seed"]
    assert job["input"]["negative_prompt"] == "fog"


@pytest.mark.parametrize(
    ("size", "message"),
    [
        ("100x64", "width is 100 pixels; it must be a multiple of 8 between 64 and 2048"),
        ("64x4096", "height is 4096 pixels"),
        ("huge", "size 'huge' is not WIDTHxHEIGHT"),
    ],
)
@pytest.mark.parametrize("response_format", ["b64_json", "url"])
def test_a_bad_size_is_a_400(
    client: openai.OpenAI, size: str, message: str, response_format: Literal["b64_json", "url"]
) -> None:
    with pytest.raises(openai.BadRequestError, match=message):
        client.images.generate(
            model=ALIAS,
            prompt="x",
            size=size,
            response_format=response_format,
        )


def test_other_bad_requests(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match="n: Input should be less than or equal"):
        client.images.generate(model=ALIAS, prompt="x", n=5)
    with pytest.raises(openai.BadRequestError, match="steps"):
        client.images.generate(model=ALIAS, prompt="x", extra_body={"steps": 500})
    with pytest.raises(openai.BadRequestError, match="is an embed model and cannot make images"):
        client.images.generate(model="all-minilm-l6-v2", prompt="x")
    with pytest.raises(openai.BadRequestError, match="Berth answers images whole"):
        client.images.generate(model=ALIAS, prompt="x", stream=True)
    with pytest.raises(openai.NotFoundError, match="no-such-model"):
        client.images.generate(model="no-such-model", prompt="x")
