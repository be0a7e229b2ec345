"""Silero VAD through a pool with a model process: it finds espeak-ng speech between
stretches of silence, and nothing in silence."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from functools import cache
from typing import Any

import numpy as np
import pytest
import pytest_asyncio

from berth.media.audio import resample
from berth.models.cache import ModelCache
from berth.models.catalog import Catalog
from berth.plugins import discover
from berth.pool.pool import ModelPool
from berth.runners.espeak import synthesize
from berth.settings import Settings
from berth.tasks.transcribe import SAMPLE_RATE
from berth.tasks.vad import Span, SpeechSpans, VadRequest

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]
ALIAS = "silero-vad"
PHRASES = ("The quick brown fox jumps over the lazy dog.", "Seven ships sailed home at night.")
TOLERANCE = 0.3
"""Seconds a span's edge may be off: padding plus espeak-ng's own quiet edges."""


def silence(seconds: float) -> np.ndarray[Any, np.dtype[np.float32]]:
    return np.zeros(int(seconds * SAMPLE_RATE), np.float32)


@cache
def spoken(text: str) -> np.ndarray[Any, np.dtype[np.float32]]:
    samples, rate = synthesize(text)
    return resample(samples, rate)


def speech_with_pauses() -> tuple[np.ndarray[Any, np.dtype[np.float32]], list[Span]]:
    """1.5 s silence, a phrase, 2 s silence, a phrase, 1 s silence; and where the phrases are."""
    first, second = (spoken(p) for p in PHRASES)
    audio = np.concatenate([silence(1.5), first, silence(2.0), second, silence(1.0)])
    start_2 = 1.5 + len(first) / SAMPLE_RATE + 2.0
    truth = [
        Span(1.5, 1.5 + len(first) / SAMPLE_RATE),
        Span(start_2, start_2 + len(second) / SAMPLE_RATE),
    ]
    return audio, truth


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def pool(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ModelPool]:
    settings = Settings(home=tmp_path_factory.mktemp("home"))
    runners = discover().runners
    catalog, cache = Catalog.load(settings, runners), ModelCache(settings)
    async with ModelPool(settings, catalog.get, cache.path_for, runners) as opened:
        await opened.load(ALIAS)
        yield opened


async def test_finds_two_phrases_between_silences(pool: ModelPool) -> None:
    audio, truth = speech_with_pauses()
    [found] = await pool.run(ALIAS, [VadRequest(audio, min_silence_ms=700)])
    assert isinstance(found, SpeechSpans)
    assert found.duration == pytest.approx(len(audio) / SAMPLE_RATE)
    assert len(found.spans) == 2, found.spans
    for span, expected in zip(found.spans, truth, strict=True):
        assert span.start == pytest.approx(expected.start, abs=TOLERANCE)
        assert span.end == pytest.approx(expected.end, abs=TOLERANCE)
    total = sum(s.end - s.start for s in truth)
    assert found.speech_seconds == pytest.approx(total, abs=2 * TOLERANCE)
    [model] = pool.describe()
    assert model["transport"] == "process"


async def test_silence_and_quiet_noise_have_no_speech(pool: ModelPool) -> None:
    noise = np.random.default_rng(0).standard_normal(3 * SAMPLE_RATE).astype(np.float32) * 1e-3
    found = await pool.run(ALIAS, [VadRequest(silence(4)), VadRequest(noise)])
    assert [f.spans for f in found] == [(), ()]
    assert [f.duration for f in found] == [4.0, 3.0]


async def test_requests_batched_together_match_one_by_one(pool: ModelPool) -> None:
    audio, _ = speech_with_pauses()
    requests = [
        VadRequest(audio),
        VadRequest(spoken(PHRASES[1])),
        VadRequest(np.concatenate([silence(0.7), spoken(PHRASES[0])])),
    ]
    alone = [(await pool.run(ALIAS, [r]))[0] for r in requests]
    together = await asyncio.gather(*(pool.run(ALIAS, [r]) for r in requests))
    assert [t[0] for t in together] == alone
    assert all(f.spans for f in alone)


async def test_other_sample_rates_are_resampled(pool: ModelPool) -> None:
    samples, rate = synthesize(PHRASES[1])
    padded = np.concatenate([np.zeros(rate, np.float32), samples])
    [found] = await pool.run(ALIAS, [VadRequest(padded, sample_rate=rate, min_silence_ms=700)])
    [span] = found.spans
    assert span.start == pytest.approx(1.0, abs=TOLERANCE)
    assert found.duration == pytest.approx(len(padded) / rate, abs=1e-3)
