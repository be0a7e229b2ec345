"""Several fine-tuned LoRA adapters on one tiny base share it: one model process holds the base
once, and answers each adapter's requests with that adapter, rows with different adapters in
one batch. Each answer is what its adapter gives merged into the base on its own (the
runner's single-adapter path), the budget counts the base once, and an adapter whose file was
changed is refused by name without disturbing the others."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from berth import errors
from berth.clock import ManualClock
from berth.models.spec import ModelSpec
from berth.pool.pool import ModelPool
from berth.runners.causal_lm import CausalLMRunner
from berth.services.fine_tuned import adapter_spec
from berth.settings import Settings
from berth.tasks.generate import Generation, GenerationRequest, JsonGrammar, TextDelta
from berth.training.checkpoints import ADAPTER_WEIGHTS
from tests.pools import catalog, runners
from tests.tiny.causal_lm import session_causal_lm
from tests.tiny.lora import build_adapter

pytestmark = pytest.mark.integration
in_module_loop = pytest.mark.asyncio(loop_scope="module")
BASE = "tiny-lm"
PROMPTS = ["Hello world", "The quick brown fox", "Numbers like 12 and 345"]


def greedy(prompt: str, max_tokens: int = 10, **fields: Any) -> GenerationRequest:
    return GenerationRequest(prompt=prompt, max_tokens=max_tokens, temperature=0, **fields)


def on(spec: ModelSpec, **options: Any) -> ModelSpec:
    """``spec`` with these model options changed."""
    return spec.model_copy(update={"options": spec.options.model_copy(update=options)})


def base_spec(path: Path, **options: Any) -> ModelSpec:
    return ModelSpec(
        alias=BASE, task="chat", runner="transformers", source=f"local:{path}", options=options
    )


class Adapters:
    """The base, two adapters and one tampered copy, as catalog entries."""

    def __init__(self, base: Path, folder: Path, **options: Any) -> None:
        self.base_dir = base
        self.base = base_spec(base, **options)
        self.folders = {name: folder / name for name in ("ft-a", "ft-b", "ft-bad")}
        shas = {name: build_adapter(base, path, seed) for seed, (name, path) in enumerate(
            self.folders.items()
        )}  # fmt: skip
        self.specs = {
            name: adapter_spec(self.base, name, base, self.folders[name], sha, f"{name} on base")
            for name, sha in shas.items()
        }

    def all(self) -> list[ModelSpec]:
        return [self.base, *self.specs.values()]

    def tamper(self) -> bytes:
        """Change a byte of ft-bad's weights; the original bytes, to restore."""
        weights = self.folders["ft-bad"] / ADAPTER_WEIGHTS
        original = weights.read_bytes()
        weights.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
        return original

    def restore(self, original: bytes) -> None:
        (self.folders["ft-bad"] / ADAPTER_WEIGHTS).write_bytes(original)


@pytest.fixture(scope="module")
def adapters(tmp_path_factory: pytest.TempPathFactory) -> Adapters:
    base = session_causal_lm(tmp_path_factory)
    return Adapters(base, tmp_path_factory.mktemp("adapters"), max_batch_size=8, max_wait_ms=20)


def alone(spec: ModelSpec, base: Path, batch: list[GenerationRequest]) -> list[Any]:
    """What ``spec`` answers loaded by itself (for an adapter entry: merged into the base)."""
    runner = CausalLMRunner()
    runner.load(spec, base, "cpu")
    try:
        return runner.run(batch)
    finally:
        runner.close()


@pytest.fixture(scope="module")
def expected(adapters: Adapters) -> dict[str, list[str]]:
    """Each model's greedy text for each prompt, from its own runner."""
    batch = [greedy(prompt) for prompt in PROMPTS]
    specs = {BASE: adapters.base, **{n: adapters.specs[n] for n in ("ft-a", "ft-b")}}
    return {
        name: [out.text for out in alone(spec, adapters.base_dir, batch)]
        for name, spec in specs.items()
    }


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def pool(
    adapters: Adapters, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[ModelPool]:
    settings = Settings(home=tmp_path_factory.mktemp("home"))
    specs = catalog(on(spec, transport="process") for spec in adapters.all())
    async with ModelPool(settings, specs, lambda _: adapters.base_dir, runners()) as opened:
        yield opened


async def text_of(pool: ModelPool, alias: str, request: GenerationRequest) -> str:
    [out] = await pool.run(alias, [request])
    assert isinstance(out, Generation)
    return out.text


@in_module_loop
async def test_two_adapters_answer_from_one_process_as_each_does_merged_alone(
    pool: ModelPool, expected: dict[str, list[str]]
) -> None:
    calls = [(alias, prompt) for alias in ("ft-a", "ft-b") for prompt in PROMPTS]
    answers = await asyncio.gather(*(text_of(pool, a, greedy(p)) for a, p in calls))
    assert answers == expected["ft-a"] + expected["ft-b"]
    assert expected["ft-a"] != expected[BASE] != expected["ft-b"] != expected["ft-a"]
    [host] = pool.describe()
    assert host["alias"].startswith(f"{BASE}+adapters-") and host["pid"] is not None
    assert host["adapters"] == ["ft-a", "ft-b"] and host["transport"] == "process"
    assert pool.is_ready("ft-a") and pool.is_ready("ft-b") and not pool.is_ready(BASE)


@in_module_loop
async def test_requests_for_different_adapters_share_a_running_batch(
    pool: ModelPool, expected: dict[str, list[str]]
) -> None:
    """ft-b's request joins the stream ft-a's long one is in, and ends first: both ran in
    the one continuous batch of the one process, each row with its own adapter."""
    order: list[str] = []
    started = asyncio.Event()

    async def long_one() -> None:
        async for chunk in pool.stream("ft-a", greedy(PROMPTS[0], max_tokens=100)):
            started.set()
            if isinstance(chunk, Generation):
                order.append("ft-a")

    async def joining() -> str:
        await started.wait()
        pieces = [chunk async for chunk in pool.stream("ft-b", greedy(PROMPTS[1]))]
        order.append("ft-b")
        return "".join(piece.text for piece in pieces if isinstance(piece, TextDelta))

    _, joined = await asyncio.gather(long_one(), joining())
    assert order == ["ft-b", "ft-a"]
    assert joined == expected["ft-b"][1]
    assert len(pool.describe()) == 1


@in_module_loop
async def test_the_budget_counts_the_shared_base_once(pool: ModelPool) -> None:
    await text_of(pool, "ft-a", greedy(PROMPTS[0]))
    [host] = pool.describe()
    assert pool.memory()["cpu"]["held"] == host["memory_bytes"] > 0
    await text_of(pool, BASE, greedy(PROMPTS[0]))
    residents = {m["alias"]: m for m in pool.describe()}
    assert set(residents) == {host["alias"], BASE}, "the base alias keeps its own resident"
    held = sum(m["memory_bytes"] for m in residents.values())
    assert pool.memory()["cpu"]["held"] == held


@in_module_loop
async def test_a_tampered_adapter_is_refused_by_name_and_the_others_go_on(
    pool: ModelPool, adapters: Adapters, expected: dict[str, list[str]]
) -> None:
    original = adapters.tamper()
    try:
        bad, good = await asyncio.gather(
            text_of(pool, "ft-bad", greedy(PROMPTS[0])),
            text_of(pool, "ft-a", greedy(PROMPTS[2])),
            return_exceptions=True,
        )
    finally:
        adapters.restore(original)
    assert isinstance(bad, errors.ModelCorrupt), bad
    assert "ft-bad" in bad.message and "does not match its sha256" in bad.message
    assert good == expected["ft-a"][2]
    host = next(m for m in pool.describe() if m["adapters"])
    assert "ft-bad" not in host["adapters"]
    restored = await text_of(pool, "ft-bad", greedy(PROMPTS[0]))
    assert (
        restored == alone(adapters.specs["ft-bad"], adapters.base_dir, [greedy(PROMPTS[0])])[0].text
    )


@in_module_loop
async def test_logprobs_echo_and_grammars_run_with_the_adapter(
    pool: ModelPool, adapters: Adapters
) -> None:
    schema = '{"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}'
    batch = [
        greedy(PROMPTS[0], max_tokens=6, logprobs=2, echo=True),
        greedy(PROMPTS[1], max_tokens=24, grammar=JsonGrammar(schema)),
    ]
    merged = alone(adapters.specs["ft-b"], adapters.base_dir, batch)
    hosted = await asyncio.gather(*(pool.run("ft-b", [request]) for request in batch))
    scored, shaped = (outputs[0] for outputs in hosted)
    assert scored.text == merged[0].text
    assert [t.token for t in scored.logprobs] == [t.token for t in merged[0].logprobs]
    assert [t.logprob for t in scored.logprobs] == pytest.approx(
        [t.logprob for t in merged[0].logprobs], abs=1e-4
    )
    assert [t.logprob for t in scored.prompt_logprobs] == pytest.approx(
        [t.logprob for t in merged[0].prompt_logprobs], abs=1e-4
    )
    assert shaped.text == merged[1].text and shaped.text.startswith("{")


# -- keep-alive, on the thread transport -------------------------------------------------------


async def test_the_shared_process_unloads_once_every_adapter_is_idle_past_keep_alive(
    adapters: Adapters, tmp_path: Path
) -> None:
    clock = ManualClock()
    specs = catalog(on(spec, transport="thread", keep_alive=60.0) for spec in adapters.all())
    async with ModelPool(
        Settings(home=tmp_path), specs, lambda _: adapters.base_dir, runners(), clock=clock
    ) as pool:
        await text_of(pool, "ft-a", greedy(PROMPTS[0], max_tokens=2))
        clock.advance(40)
        await text_of(pool, "ft-b", greedy(PROMPTS[0], max_tokens=2))
        clock.advance(40)
        assert await pool.expire() == [], "ft-b used it 40 s ago"
        clock.advance(21)
        [host] = await pool.expire()
        assert host.startswith(f"{BASE}+adapters-") and pool.describe() == []
        assert pool.memory() == {}


async def test_an_adapter_entry_copied_to_another_folder_is_one_adapter_per_folder(
    adapters: Adapters, tmp_path: Path
) -> None:
    """The same alias published again over another folder (a retrained adapter) serves the
    new weights: adapters are told apart by folder and sha256, not by alias."""
    moved = tmp_path / "moved"
    shutil.copytree(adapters.folders["ft-b"], moved)
    table = {"ft-a": on(adapters.specs["ft-a"], transport="thread")}
    settings = Settings(home=tmp_path / "home")
    async with ModelPool(
        settings, table.__getitem__, lambda _: adapters.base_dir, runners()
    ) as pool:
        before = await text_of(pool, "ft-a", greedy(PROMPTS[0]))
        sha = adapters.specs["ft-b"].options.runner_options["adapter_sha256"]
        again = adapter_spec(adapters.base, "ft-a", adapters.base_dir, moved, sha, "retrained")
        table["ft-a"] = on(again, transport="thread")
        after = await text_of(pool, "ft-a", greedy(PROMPTS[0]))
        assert len(pool.describe()) == 1
    b_alone = alone(adapters.specs["ft-b"], adapters.base_dir, [greedy(PROMPTS[0])])[0].text
    assert before != after == b_alone


@in_module_loop
async def test_a_hosted_request_that_cannot_run_names_its_fine_tuned_model(
    pool: ModelPool,
) -> None:
    with pytest.raises(errors.ContextTooLong, match="model 'ft-b' reads at most"):
        await pool.run("ft-b", [greedy("Hello world " * 200)])
