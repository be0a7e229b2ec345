"""Chat and completions from a real ``berth serve``, driven by the official ``openai`` client,
on each LLM runner alike: the tiny causal LM on ``transformers`` and the same weights as GGUF
on ``llama-cpp`` (where the ``llama`` extra is installed). What only the GGUF path does is in
``test_llama_cpp_api.py``."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import openai
import pytest

from tests.acceptance.live import LiveServer, create_key, live_server
from tests.tiny.causal_lm import CONTEXT, session_causal_lm
from tests.tiny.gguf import session_gguf

pytestmark = [pytest.mark.acceptance, pytest.mark.slow]
HAS_LLAMA = importlib.util.find_spec("llama_cpp") is not None
MESSAGES: list[openai.types.chat.ChatCompletionMessageParam] = [
    {"role": "system", "content": "You are brief."},
    {"role": "user", "content": "Hello there, how are you?"},
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    model_dir = session_causal_lm(tmp_path_factory)
    home = tmp_path_factory.mktemp("serve") / "home"
    home.mkdir(parents=True)
    catalog = (
        '[models.tiny-lm]\ntask = "chat"\nrunner = "transformers"\n'
        f'source = "local:{model_dir}"\n'
        "[models.tiny-lm.options]\nmax_batch_size = 8\n"
    )
    if HAS_LLAMA:
        gguf = session_gguf(tmp_path_factory)
        catalog += (
            '[models.tiny-gguf]\ntask = "chat"\nrunner = "llama-cpp"\n'
            f'source = "local:{gguf.parent}"\nfiles = ["*.gguf"]\n'
            "[models.tiny-gguf.options]\nmax_batch_size = 4\n"
        )
    (home / "catalog.toml").write_text(catalog)
    with live_server(home, BERTH_LOAD_WAIT_SECONDS="120") as live:
        yield live


@pytest.fixture(scope="module")
def client(server: LiveServer) -> Iterator[openai.OpenAI]:
    secret = create_key(server, "llm", "infer")
    with openai.OpenAI(
        base_url=f"{server.url}/v1", api_key=secret, max_retries=0, timeout=120
    ) as opened:
        yield opened


@pytest.fixture(params=["tiny-lm", "tiny-gguf"])
def model(request: pytest.FixtureRequest) -> str:
    """The model each test runs on: one per runner."""
    if request.param == "tiny-gguf" and not HAS_LLAMA:
        pytest.skip("the llama extra (llama-cpp-python) is not installed")
    name: str = request.param
    return name


def test_chat_answers_with_the_usage(client: openai.OpenAI, model: str) -> None:
    answer = client.chat.completions.create(
        model=model, messages=MESSAGES, max_tokens=8, temperature=0
    )
    [choice] = answer.choices
    assert choice.finish_reason == "length"
    assert isinstance(choice.message.content, str) and choice.message.content
    assert answer.usage is not None and answer.usage.completion_tokens == 8
    assert answer.usage.prompt_tokens > 10
    assert answer.usage.total_tokens == answer.usage.prompt_tokens + 8
    again = client.chat.completions.create(
        model=model, messages=MESSAGES, max_tokens=8, temperature=0
    )
    assert again.choices[0].message.content == choice.message.content


def test_chat_streams_the_same_text_then_the_usage(client: openai.OpenAI, model: str) -> None:
    whole = client.chat.completions.create(
        model=model, messages=MESSAGES, max_tokens=10, temperature=0
    )
    chunks = list(
        client.chat.completions.create(
            model=model,
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


def test_completions_streamed_and_not_and_with_a_stop(client: openai.OpenAI, model: str) -> None:
    prompt = "The quick brown fox"
    free = client.completions.create(model=model, prompt=prompt, max_tokens=16, temperature=0)
    text = free.choices[0].text
    assert free.choices[0].finish_reason == "length" and text
    streamed = client.completions.create(
        model=model, prompt=prompt, max_tokens=16, temperature=0, stream=True
    )
    assert "".join(c.choices[0].text for c in streamed if c.choices) == text
    stop = text.replace("\ufffd", "")[2:4]
    cut = client.completions.create(
        model=model, prompt=prompt, max_tokens=16, temperature=0, stop=[stop]
    )
    assert cut.choices[0].text == text[: text.find(stop)]
    assert cut.choices[0].finish_reason == "stop"


def test_concurrent_requests_answer_as_one_by_one(client: openai.OpenAI, model: str) -> None:
    prompts = ["Hello world", "The quick brown fox", "Numbers like 12", "Café, naïve"]

    def complete(prompt: str) -> str:
        done = client.completions.create(model=model, prompt=prompt, max_tokens=12, temperature=0)
        return done.choices[0].text

    alone = [complete(prompt) for prompt in prompts]
    with ThreadPoolExecutor(len(prompts)) as threads:
        together = list(threads.map(complete, prompts))
    assert together == alone


def test_a_prompt_past_the_context_is_a_400_that_says_what_to_do(
    client: openai.OpenAI, model: str
) -> None:
    long_prompt = "Hello world " * CONTEXT
    with pytest.raises(openai.BadRequestError, match="Shorten the prompt") as caught:
        client.completions.create(model=model, prompt=long_prompt, max_tokens=4)
    assert caught.value.status_code == 400
    assert f"at most {CONTEXT} tokens" in str(caught.value)
    with pytest.raises(openai.BadRequestError, match="set max_tokens to"):
        client.chat.completions.create(
            model=model, messages=MESSAGES, max_tokens=CONTEXT, stream=True
        )
