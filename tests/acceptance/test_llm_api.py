"""Chat and completions from a real ``berth serve`` with the tiny causal LM in a user catalog,
driven by the official ``openai`` client."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from tests.acceptance.live import LiveServer, create_key, live_server
from tests.tiny.causal_lm import CONTEXT, session_causal_lm

pytestmark = [pytest.mark.acceptance, pytest.mark.slow]
MODEL = "tiny-lm"
MESSAGES: list[openai.types.chat.ChatCompletionMessageParam] = [
    {"role": "system", "content": "You are brief."},
    {"role": "user", "content": "Hello there, how are you?"},
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    model_dir = session_causal_lm(tmp_path_factory)
    home = tmp_path_factory.mktemp("serve") / "home"
    home.mkdir(parents=True)
    (home / "catalog.toml").write_text(
        f'[models.{MODEL}]\ntask = "chat"\nrunner = "transformers"\n'
        f'source = "local:{model_dir}"\n'
        f"[models.{MODEL}.options]\nmax_batch_size = 8\n"
    )
    with live_server(home, BERTH_LOAD_WAIT_SECONDS="120") as live:
        yield live


@pytest.fixture(scope="module")
def client(server: LiveServer) -> Iterator[openai.OpenAI]:
    secret = create_key(server, "llm", "infer")
    with openai.OpenAI(
        base_url=f"{server.url}/v1", api_key=secret, max_retries=0, timeout=120
    ) as opened:
        yield opened


def test_chat_answers_with_the_usage(client: openai.OpenAI) -> None:
    answer = client.chat.completions.create(
        model=MODEL, messages=MESSAGES, max_tokens=8, temperature=0
    )
    [choice] = answer.choices
    assert choice.finish_reason == "length"
    assert isinstance(choice.message.content, str) and choice.message.content
    assert answer.usage is not None and answer.usage.completion_tokens == 8
    assert answer.usage.prompt_tokens > 10
    assert answer.usage.total_tokens == answer.usage.prompt_tokens + 8
    again = client.chat.completions.create(
        model=MODEL, messages=MESSAGES, max_tokens=8, temperature=0
    )
    assert again.choices[0].message.content == choice.message.content


def test_chat_streams_the_same_text_then_the_usage(client: openai.OpenAI) -> None:
    whole = client.chat.completions.create(
        model=MODEL, messages=MESSAGES, max_tokens=10, temperature=0
    )
    chunks = list(
        client.chat.completions.create(
            model=MODEL,
            messages=MESSAGES,
            max_tokens=10,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    pieces = [c.choices[0].delta.content or "" for c in chunks if c.choices]
    assert len([p for p in pieces if p]) > 1
    assert "".join(pieces) == whole.choices[0].message.content
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "length" and set(finishes[:-1]) == {None}
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 10
    assert chunks[-1].usage.prompt_tokens == whole.usage.prompt_tokens if whole.usage else False


def test_completions_with_a_stop_sequence(client: openai.OpenAI) -> None:
    free = client.completions.create(
        model=MODEL, prompt="Hello world", max_tokens=16, temperature=0
    )
    text = free.choices[0].text
    assert free.choices[0].finish_reason == "length" and len(text) > 8
    stop = text[4:7]
    cut = client.completions.create(
        model=MODEL, prompt="Hello world", max_tokens=16, temperature=0, stop=[stop]
    )
    assert cut.choices[0].text == text[: text.find(stop)]
    assert cut.choices[0].finish_reason == "stop"
    streamed = client.completions.create(
        model=MODEL, prompt="Hello world", max_tokens=16, temperature=0, stream=True
    )
    assert "".join(c.choices[0].text for c in streamed if c.choices) == text


def test_a_prompt_past_the_context_is_a_400_that_says_what_to_do(client: openai.OpenAI) -> None:
    long_prompt = "Hello world " * CONTEXT
    with pytest.raises(openai.BadRequestError, match="Shorten the prompt") as caught:
        client.completions.create(model=MODEL, prompt=long_prompt, max_tokens=4)
    assert caught.value.status_code == 400
    assert f"at most {CONTEXT} tokens" in str(caught.value)
    with pytest.raises(openai.BadRequestError, match="set max_tokens to"):
        client.chat.completions.create(
            model=MODEL, messages=MESSAGES, max_tokens=CONTEXT, stream=True
        )
