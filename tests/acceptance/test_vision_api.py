"""Images through a live ``berth serve``: ``POST /v1/ocr`` with httpx, and chat about images
with the official ``openai`` client against a tiny LLaVA from a user catalog."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.acceptance.live import LiveServer, create_key, live_server
from tests.images import render_lines, squeeze
from tests.tiny.vlm import build_tiny_vlm

pytestmark = [pytest.mark.acceptance, pytest.mark.slow]
WORDS = ["Open harbor", "Berth 12"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("vision")
    model = build_tiny_vlm(root / "tiny-vlm")
    home = root / "home"
    home.mkdir()
    (home / "catalog.toml").write_text(
        f'[models.tiny-vlm]\ntask = "vision"\nrunner = "transformers-vlm"\n'
        f'source = "local:{model}"\n'
    )
    with live_server(home) as live:
        yield live


@pytest.fixture(scope="module")
def secret(server: LiveServer) -> str:
    return create_key(server, "vision", "infer")


@pytest.fixture(scope="module")
def client(server: LiveServer, secret: str) -> Iterator[openai.OpenAI]:
    base = f"{server.url}/v1"
    with openai.OpenAI(base_url=base, api_key=secret, max_retries=0, timeout=120) as opened:
        yield opened


def data_url(data: bytes, media_type: str = "image/png") -> str:
    return f"data:{media_type};base64,{base64.b64encode(data).decode()}"


def check_page(answer: httpx.Response, model: str = "rapidocr") -> dict[str, Any]:
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    assert body["model"] == model and body["width"] == 720
    assert [squeeze(line["text"]) for line in body["lines"]] == [squeeze(w) for w in WORDS]
    assert squeeze(body["text"]) == squeeze("".join(WORDS))
    for line in body["lines"]:
        assert 0 < line["confidence"] <= 1 and len(line["box"]) == 4
    return body


def test_ocr_of_an_upload_and_of_a_data_url(server: LiveServer) -> None:
    page = render_lines(WORDS)
    upload = httpx.post(
        f"{server.url}/v1/ocr", files={"file": ("page.png", page, "image/png")}, timeout=120
    )
    check_page(upload)
    inline = httpx.post(
        f"{server.url}/v1/ocr", json={"model": "rapidocr", "image": data_url(page)}, timeout=120
    )
    assert check_page(inline)["lines"] == upload.json()["lines"]


@pytest.mark.parametrize(
    ("request_args", "status", "message"),
    [
        ({"files": {"file": ("x.png", b"garbage", "image/png")}}, 415, "not an image"),
        ({"json": {"image": "https://example.com/a.png"}}, 400, "does not fetch images"),
        ({"json": {"image": "@@@"}}, 400, "not valid base64"),
        ({"json": {"model": "rapidocr"}}, 400, "image: Field required"),
        ({"data": {"model": "rapidocr"}}, 415, "multipart/form-data or application/json"),
        ({"files": {"other": ("x.png", b"x", "image/png")}}, 400, "no file in the field 'file'"),
        ({"json": {"model": "echo", "image": data_url(b"x")}}, 415, "not an image"),
    ],
)
def test_bad_ocr_requests_say_what_to_send(
    server: LiveServer, request_args: dict[str, Any], status: int, message: str
) -> None:
    answer = httpx.post(f"{server.url}/v1/ocr", timeout=60, **request_args)
    assert answer.status_code == status, answer.text
    assert message in answer.json()["error"]["message"]


def test_ocr_with_a_model_that_cannot_read(server: LiveServer) -> None:
    answer = httpx.post(
        f"{server.url}/v1/ocr",
        json={"model": "all-minilm-l6-v2", "image": data_url(render_lines(["x"]))},
        timeout=60,
    )
    assert answer.status_code == 400
    assert "is an embed model and cannot make text lines" in answer.json()["error"]["message"]


def image_message(image: bytes, text: str = "Describe the picture.") -> Any:
    return {
        "role": "user",
        "content": [
            {"type": "text", "text": text},
            {"type": "image_url", "image_url": {"url": data_url(image)}},
        ],
    }


def test_chat_about_an_image(client: openai.OpenAI) -> None:
    image = render_lines(["cat"])
    messages = [image_message(image)]
    answer = client.chat.completions.create(
        model="tiny-vlm", messages=messages, max_tokens=6, seed=5
    )
    assert answer.choices[0].finish_reason == "length"
    assert answer.usage is not None and answer.usage.completion_tokens == 6
    text_only = client.chat.completions.create(
        model="tiny-vlm",
        messages=[{"role": "user", "content": "Describe the picture."}],
        max_tokens=6,
        seed=5,
    )
    assert text_only.usage is not None
    assert answer.usage.prompt_tokens > text_only.usage.prompt_tokens
    stream = client.chat.completions.create(
        model="tiny-vlm",
        messages=messages,
        max_tokens=6,
        seed=5,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == answer.choices[0].message.content
    assert (
        chunks[-1].usage is not None
        and chunks[-1].usage.prompt_tokens == answer.usage.prompt_tokens
    )


def test_a_corrupt_image_is_refused_clearly(client: openai.OpenAI) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(
            model="tiny-vlm", messages=[image_message(b"\x89PNG broken")], max_tokens=4
        )
    assert caught.value.status_code == 415
    assert "not an image Berth can read" in caught.value.message
    with pytest.raises(openai.BadRequestError, match="does not fetch images"):
        client.chat.completions.create(
            model="tiny-vlm",
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": "http://example.com/a.png"}}
                    ],
                }
            ],
        )


def test_an_image_to_a_text_only_model_is_a_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match=r"cannot read images.*tiny-vlm"):
        client.chat.completions.create(
            model="qwen2.5-0.5b-instruct", messages=[image_message(render_lines(["x"]))]
        )
    echoed = client.chat.completions.create(
        model="echo", messages=[image_message(render_lines(["x"]), text="just words")]
    )
    assert echoed.choices[0].message.content == "just words"
