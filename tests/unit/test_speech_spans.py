"""Speech spans from VAD probabilities, and subtitles from segments."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from berth.media.subtitles import srt, timestamp, vtt
from berth.runners.vad import WINDOW, speech_spans
from berth.tasks.transcribe import SAMPLE_RATE, Segment
from berth.tasks.vad import Span, VadRequest

pytestmark = pytest.mark.unit


def windows(*runs: tuple[float, float]) -> np.ndarray[Any, np.dtype[np.float32]]:
    """Probabilities from (seconds, probability) runs."""
    step = WINDOW / SAMPLE_RATE
    parts = [np.full(round(seconds / step), p, np.float32) for seconds, p in runs]
    return np.concatenate(parts)


def spans_of(probabilities: np.ndarray[Any, Any], **settings: Any) -> tuple[Span, ...]:
    request = VadRequest(np.zeros(0, np.float32), **settings)
    return speech_spans(probabilities, request, len(probabilities) * WINDOW).spans


def test_short_bursts_are_dropped_and_short_pauses_bridged() -> None:
    probabilities = windows((1, 0.0), (0.1, 0.9), (1, 0.0), (1, 0.9), (0.05, 0.1), (1, 0.9))
    [span] = spans_of(probabilities, min_speech_ms=250, min_silence_ms=200, pad_ms=0)
    assert span.start == pytest.approx(2.1, abs=0.04)
    assert span.end == pytest.approx(4.15, abs=0.04)


def test_a_long_pause_splits_and_padding_widens() -> None:
    probabilities = windows((1, 0.0), (1, 0.8), (0.5, 0.0), (1, 0.8))
    first, second = spans_of(probabilities, min_silence_ms=300, pad_ms=50)
    assert first.start == pytest.approx(0.95, abs=0.04)
    assert first.end == pytest.approx(2.05, abs=0.04)
    assert second.start == pytest.approx(2.45, abs=0.04)
    merged = spans_of(probabilities, min_silence_ms=300, pad_ms=300)
    assert len(merged) == 1


def test_the_threshold_decides() -> None:
    probabilities = windows((1, 0.0), (1, 0.4), (1, 0.0))
    assert spans_of(probabilities, threshold=0.5) == ()
    assert len(spans_of(probabilities, threshold=0.3)) == 1


def test_timestamps_in_both_formats() -> None:
    assert timestamp(3725.0011) == "01:02:05,001"
    assert timestamp(0.5, ".") == "00:00:00.500"


def test_srt_and_vtt_number_and_time_their_cues() -> None:
    segments = [Segment(0, 2.5, "hello"), Segment(2.5, 4, "two\n\nlines"), Segment(4, 5, " ")]
    assert srt(segments) == (
        "1\n00:00:00,000 --> 00:00:02,500\nhello\n\n2\n00:00:02,500 --> 00:00:04,000\ntwo\nlines\n"
    )
    assert vtt(segments) == (
        "WEBVTT\n\n00:00:00.000 --> 00:00:02.500\nhello\n\n"
        "00:00:02.500 --> 00:00:04.000\ntwo\nlines\n"
    )
