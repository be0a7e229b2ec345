"""``/v1/completions`` with ``echo`` on the tiny transformers model, through the official
``openai`` client against Berth's application: the prompt comes back in the text, and with
``logprobs`` its tokens' log probabilities (the first null) equal the model's own, called
directly; the completion's part equals a plain request's."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import openai
import pytest

from berth.app import Berth
from berth.settings import Settings
from berth.site import create_app
from tests.tiny.causal_lm import session_causal_lm

pytestmark = pytest.mark.integration
PROMPT = "The quick brown fox"


@pytest.fixture
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return session_causal_lm(tmp_path_factory)


@pytest.fixture
async def client(tmp_path: Path, model_dir: Path) -> AsyncIterator[openai.AsyncOpenAI]:
    (tmp_path / "catalog.toml").write_text(
        f'[models.tiny-lm]\ntask = "chat"\nrunner = "transformers"\nsource = "local:{model_dir}"\n'
        '[models.tiny-lm.options]\ntransport = "thread"\n'
    )
    async with Berth(Settings(home=tmp_path)) as berth:
        transport = httpx.ASGITransport(app=create_app(berth))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield openai.AsyncOpenAI(base_url="http://test/v1", api_key="x", http_client=http)


def direct_logprobs(model_dir: Path, prompt: str) -> tuple[list[int], list[float]]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    ids = tokenizer(prompt)["input_ids"]
    with torch.inference_mode():
        scores = torch.log_softmax(model(torch.tensor([ids])).logits[0].float(), dim=-1)
    return ids, [float(scores[i - 1, ids[i]]) for i in range(1, len(ids))]


async def test_echo_scores_the_prompt_as_the_model_does(
    client: openai.AsyncOpenAI, model_dir: Path
) -> None:
    asked = {"model": "tiny-lm", "prompt": PROMPT, "max_tokens": 4, "temperature": 0}
    echoed = await client.completions.create(**asked, echo=True, logprobs=2)  # type: ignore[call-overload]
    plain = await client.completions.create(**asked, logprobs=2)  # type: ignore[call-overload]
    ids, expected = direct_logprobs(model_dir, PROMPT)
    [choice], [alone] = echoed.choices, plain.choices
    assert choice.text == PROMPT + alone.text
    logprobs, completion = choice.logprobs, alone.logprobs
    assert logprobs is not None and completion is not None
    assert logprobs.tokens is not None and logprobs.token_logprobs is not None
    assert logprobs.top_logprobs is not None
    assert len(logprobs.tokens) == len(ids) + len(completion.tokens or [])
    assert logprobs.token_logprobs[0] is None and logprobs.top_logprobs[0] is None
    scored = logprobs.token_logprobs[1 : len(ids)]
    assert all(
        math.isclose(got, want, abs_tol=1e-4)
        for got, want in zip(scored, expected, strict=True)  # type: ignore[arg-type]
    ), (scored, expected)
    for place, top in enumerate(logprobs.top_logprobs[1 : len(ids)], start=1):
        assert top is not None and len(top) <= 2
        assert max(top.values()) >= logprobs.token_logprobs[place] - 1e-5  # type: ignore[operator]
    assert logprobs.tokens[len(ids) :] == completion.tokens
    assert logprobs.token_logprobs[len(ids) :] == completion.token_logprobs
    assert echoed.usage is not None and echoed.usage.prompt_tokens == len(ids)


async def test_echo_without_logprobs_echoes_and_with_stream_is_refused(
    client: openai.AsyncOpenAI,
) -> None:
    asked = {"model": "tiny-lm", "prompt": PROMPT, "max_tokens": 3, "temperature": 0}
    echoed = await client.completions.create(**asked, echo=True)  # type: ignore[call-overload]
    plain = await client.completions.create(**asked)  # type: ignore[call-overload]
    assert echoed.choices[0].text == PROMPT + plain.choices[0].text
    assert echoed.choices[0].logprobs is None
    with pytest.raises(openai.BadRequestError, match="echo: Berth echoes the prompt"):
        await client.completions.create(**asked, echo=True, stream=True)  # type: ignore[call-overload]
