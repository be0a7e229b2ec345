"""Two fine-tuned models over one base on a real ``berth serve``, called with the official
``openai`` client: each answers with its own adapter (as it does merged alone), both from the
one model process that hosts the base, which ``/readyz``, the admin view, the dashboard and the
models page name."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import openai
import pytest

from berth.models.spec import ModelSpec
from berth.runners.causal_lm import CausalLMRunner
from berth.services.fine_tuned import adapter_spec
from berth.tasks.generate import ChatMessage, GenerationRequest
from tests.acceptance.live import LiveServer, create_key, live_server
from tests.tiny.causal_lm import session_causal_lm
from tests.tiny.lora import build_adapter

pytestmark = [pytest.mark.acceptance, pytest.mark.slow]
BASE = "tiny-lm"
TUNED = ("ft-tiny-lm-a-11111111", "ft-tiny-lm-b-22222222")
QUESTION = "Hello world"


@pytest.fixture(scope="module")
def adapters(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, str]]:
    base = session_causal_lm(tmp_path_factory)
    folder = tmp_path_factory.mktemp("served-adapters")
    return {
        alias: (folder / alias, build_adapter(base, folder / alias, seed))
        for seed, alias in enumerate(TUNED, start=7)
    }


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, adapters: dict[str, tuple[Path, str]]
) -> Iterator[LiveServer]:
    base = session_causal_lm(tmp_path_factory)
    home = tmp_path_factory.mktemp("serve-adapters") / "home"
    home.mkdir(parents=True)
    entries = [
        f'[models.{BASE}]\ntask = "chat"\nrunner = "transformers"\nsource = "local:{base}"\n'
    ]
    for alias, (folder, sha) in adapters.items():
        entries.append(
            f'[models.{alias}]\ntask = "chat"\nrunner = "transformers"\nsource = "local:{base}"\n'
            f"[models.{alias}.options]\nrunner_options = "
            f'{{ adapter = "{folder}", adapter_sha256 = "{sha}", adapter_base = "{BASE}" }}\n'
        )
    (home / "catalog.toml").write_text("".join(entries))
    with live_server(home, BERTH_LOAD_WAIT_SECONDS="120") as live:
        yield live


def merged_answer(base: Path, alias: str, folder: Path, sha: str) -> str:
    """What the fine-tuned model says when its adapter is merged into the base alone."""
    spec = ModelSpec(alias=BASE, task="chat", runner="transformers", source=f"local:{base}")
    runner = CausalLMRunner()
    runner.load(adapter_spec(spec, alias, base, folder, sha, ""), base, "cpu")
    request = GenerationRequest(
        messages=(ChatMessage("user", QUESTION),), max_tokens=12, temperature=0
    )
    try:
        [out] = runner.run([request])
    finally:
        runner.close()
    return str(out.text)


def test_two_fine_tuned_models_answer_from_one_shared_base(
    server: LiveServer,
    adapters: dict[str, tuple[Path, str]],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    base = session_causal_lm(tmp_path_factory)
    secret = create_key(server, "adapters", "infer,jobs,admin")
    with openai.OpenAI(
        base_url=f"{server.url}/v1", api_key=secret, max_retries=0, timeout=120
    ) as client:

        def ask(model: str) -> str | None:
            answer = client.chat.completions.create(
                model=model,
                messages=[{"role": "user", "content": QUESTION}],
                max_tokens=12,
                temperature=0,
            )
            return answer.choices[0].message.content

        with ThreadPoolExecutor(4) as threads:
            answers = list(threads.map(ask, [*TUNED, *TUNED]))
        listed = [model.id for model in client.models.list()]
    expected = [merged_answer(base, alias, *adapters[alias]) for alias in TUNED]
    assert answers == expected * 2
    assert expected[0] != expected[1]
    assert set(TUNED) <= set(listed)

    headers = {"Authorization": f"Bearer {secret}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as http:
        state = http.post(f"/v1/models/{TUNED[1]}/load").json()
        assert state["loaded"] is True
        assert state["details"]["alias"].startswith(f"{BASE}+adapters-")
        assert state["details"]["adapters"] == sorted(TUNED)
        deadline = time.monotonic() + 20
        while set(TUNED) - set(http.get("/readyz").json()["models"]):
            assert time.monotonic() < deadline, "the worker never reported the adapters"
            time.sleep(0.5)
    dashboard, models = pages(server, secret, "/", "/models")
    assert f"adapters: {', '.join(sorted(TUNED))}" in dashboard
    for alias in TUNED:
        row = re.search(rf'<tr id="model-{alias}">.*?</tr>', models, re.DOTALL)
        assert row is not None and "state-loaded" in row.group(0)


def pages(server: LiveServer, secret: str, *paths: str) -> list[str]:
    """The UI's pages at ``paths``, after logging in with the key."""
    with httpx.Client(base_url=server.url, timeout=30) as browser:
        form = browser.get("/login").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', form)
        assert token is not None
        data = {"csrf_token": token.group(1), "key": secret, "next": "/"}
        assert browser.post("/login", data=data, follow_redirects=True).status_code == 200
        return [browser.get(path).text for path in paths]
