"""What every tutorial for a local OpenAI-compatible server does: pass a placeholder key.

The ``openai`` client refuses to start without a key, so local servers' users write
``api_key="EMPTY"`` (or ``"none"``, ``"ollama"``, ...). On keyless loopback Berth takes such a
token as no key; a Berth key is still checked, so a revoked one stays refused.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from langchain_openai import ChatOpenAI, OpenAIEmbeddings

from tests.acceptance.live import LiveServer, create_key, live_server

pytestmark = [pytest.mark.acceptance, pytest.mark.slow]
PLACEHOLDERS = ["none", "EMPTY", "ollama", "sk-no-key-required"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("serve") / "home") as live:
        yield live


@pytest.mark.parametrize("placeholder", PLACEHOLDERS)
def test_the_official_client_works_with_a_placeholder_key(
    server: LiveServer, placeholder: str
) -> None:
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key=placeholder, max_retries=0)
    reply = client.chat.completions.create(
        model="echo", messages=[{"role": "user", "content": f"hello {placeholder}"}]
    )
    assert reply.choices[0].message.content == f"hello {placeholder}"
    assert {model.id for model in client.models.list()} >= {"echo", "all-minilm-l6-v2"}


def test_langchain_chat_and_embeddings_work_with_a_placeholder_key(server: LiveServer) -> None:
    chat = ChatOpenAI(base_url=f"{server.url}/v1", api_key="EMPTY", model="echo", max_retries=0)
    assert chat.invoke("Say this back.").content == "Say this back."
    streamed = "".join(str(chunk.content) for chunk in chat.stream("one two three"))
    assert streamed == "one two three"
    embeddings = OpenAIEmbeddings(
        base_url=f"{server.url}/v1",
        api_key="EMPTY",
        model="all-minilm-l6-v2",
        check_embedding_ctx_length=False,  # LangChain would send tiktoken ids otherwise
        max_retries=0,
    )
    [vector] = embeddings.embed_documents(["a cat on a mat"])
    assert len(vector) == 384


def test_a_revoked_berth_key_stays_refused_on_loopback(server: LiveServer, tmp_path: Path) -> None:
    secret = create_key(server, "short-lived", "infer")
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key=secret, max_retries=0)
    assert client.models.retrieve("echo").id == "echo"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "berth",
            "--home",
            str(server.home),
            "keys",
            "revoke",
            "short-lived",
        ],
        check=True,
        capture_output=True,
    )
    with pytest.raises(openai.AuthenticationError, match="was revoked"):
        client.models.retrieve("echo")
    typo = openai.OpenAI(base_url=f"{server.url}/v1", api_key=secret[:-1] + "!", max_retries=0)
    with pytest.raises(openai.AuthenticationError, match="not valid"):
        typo.models.list()
