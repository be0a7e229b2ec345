"""The Files API, driven by the official ``openai`` client against ``berth serve``."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator

import openai
import pytest

from tests.acceptance.live import LiveServer, create_key, live_server

pytestmark = [pytest.mark.acceptance, pytest.mark.slow]
MAX_FILE_BYTES = 200_000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("serve") / "home"
    with live_server(home, BERTH_MAX_FILE_BYTES=str(MAX_FILE_BYTES)) as live:
        yield live


@pytest.fixture(scope="module")
def client(server: LiveServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key="none", max_retries=0)


def jsonl(*records: object) -> bytes:
    return "".join(json.dumps(record) + "\n" for record in records).encode()


def test_upload_list_retrieve_download_delete(client: openai.OpenAI) -> None:
    data = jsonl({"item": {"q": "2+2", "a": "4"}}, {"item": {"q": "3+3", "a": "6"}})
    made = client.files.create(file=("golden.jsonl", io.BytesIO(data)), purpose="evals")
    assert made.id.startswith("file-") and made.object == "file"
    assert (made.filename, made.bytes, made.purpose, made.status) == (
        "golden.jsonl", len(data), "evals", "processed",
    )  # fmt: skip
    extra = made.model_extra or {}
    assert extra["sha256"] == hashlib.sha256(data).hexdigest() and extra["lines"] == 2
    assert client.files.retrieve(made.id).id == made.id
    assert client.files.content(made.id).read() == data
    other = client.files.create(file=("notes.txt", io.BytesIO(b"hi")), purpose="assistants")
    assert [f.id for f in client.files.list()][:2] == [other.id, made.id]
    assert [f.id for f in client.files.list(purpose="evals")] == [made.id]
    deleted = client.files.delete(made.id)
    assert deleted.deleted and deleted.id == made.id
    with pytest.raises(openai.NotFoundError, match=made.id):
        client.files.retrieve(made.id)
    assert [f.id for f in client.files.list()] == [other.id]


@pytest.mark.parametrize(
    ("purpose", "content", "message"),
    [
        ("evals", b'{"item": {"q": 1}}\n{"item": 2', "line 2: not JSON"),
        ("evals", b'{"item": {"q": 1}}\n[1, 2]\n', "line 2: a JSON list, not an object"),
        ("evals", b'{"q": 1}\n', 'line 1: field item: each line must be {"item": {...}}'),
        ("fine-tune", jsonl({"messages": [{"role": "user", "content": "hi"}]}),
         "line 1: field messages: no assistant message to learn from"),
        ("fine-tune", jsonl({"messages": [{"role": "bot", "content": "hi"}]}),
         "line 1: field messages[0].role: 'bot' is not a role"),
        ("batch", jsonl({"custom_id": "a", "method": "POST", "url": "/v1/x"}),
         "line 1: field body: missing or not a dict"),
        ("evals", b"", "is empty"),
        ("secret", b"x", "There is no file purpose 'secret'"),
    ],
)  # fmt: skip
def test_bad_uploads_are_refused_naming_the_line_and_field(
    client: openai.OpenAI, purpose: str, content: bytes, message: str
) -> None:
    before = len(client.files.list().data)
    with pytest.raises(
        openai.BadRequestError, match=message.replace("[", r"\[").replace("{", r"\{")
    ):
        client.files.create(file=("data.jsonl", io.BytesIO(content)), purpose=purpose)  # type: ignore[arg-type]
    assert len(client.files.list().data) == before


def test_a_file_over_the_limit_is_413_and_leaves_nothing(
    client: openai.OpenAI, server: LiveServer
) -> None:
    big = io.BytesIO(b"x" * (MAX_FILE_BYTES + 1))
    with pytest.raises(openai.APIStatusError) as caught:
        client.files.create(file=("big.bin", big), purpose="assistants")
    assert caught.value.status_code == 413
    assert "BERTH_MAX_FILE_BYTES" in caught.value.message
    leftovers = list((server.home / "files").glob("*.partial"))
    assert leftovers == []


def test_a_key_sees_only_its_own_files(server: LiveServer) -> None:
    mine = openai.OpenAI(
        base_url=f"{server.url}/v1", api_key=create_key(server, "alice", "jobs"), max_retries=0
    )
    theirs = openai.OpenAI(
        base_url=f"{server.url}/v1", api_key=create_key(server, "bob", "jobs"), max_retries=0
    )
    made = mine.files.create(file=("a.txt", io.BytesIO(b"alice")), purpose="user_data")
    assert [f.id for f in mine.files.list()] == [made.id]
    assert theirs.files.list().data == []
    with pytest.raises(openai.NotFoundError):
        theirs.files.content(made.id)
    with pytest.raises(openai.NotFoundError):
        theirs.files.delete(made.id)
