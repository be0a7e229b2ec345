"""Encoding generated audio: float32 mono samples into wav, flac, mp3, opus or raw pcm bytes.

Compressed formats come from libsndfile (through ``soundfile``); those its build cannot write
are left out of :func:`audio_formats`, so asking for one is a clear 400, never a crash.
"""

from __future__ import annotations

import importlib
import io
import math
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from berth import errors

PCM_RATE = 24_000
"""Raw ``pcm`` is 16-bit little-endian mono at this rate, as OpenAI's speech API sends it."""
OPUS_RATES = (8_000, 12_000, 16_000, 24_000, 48_000)
"""The sample rates Opus can encode; other audio is resampled to the next one up."""
KNOWN_FORMATS = ("mp3", "opus", "aac", "flac", "wav", "pcm")
"""The formats OpenAI's speech API names."""


@dataclass(frozen=True)
class AudioFormat:
    """How to write one ``response_format``: libsndfile's format and subtype, or raw PCM."""

    name: str
    media_type: str
    extension: str
    container: str | None
    subtype: str | None
    rates: tuple[int, ...] = ()
    """Sample rates the encoder takes; empty for any."""


_FORMATS = (
    AudioFormat("wav", "audio/wav", "wav", "WAV", "PCM_16"),
    AudioFormat("flac", "audio/flac", "flac", "FLAC", "PCM_16"),
    AudioFormat("mp3", "audio/mpeg", "mp3", "MP3", "MPEG_LAYER_III"),
    AudioFormat("opus", "audio/ogg", "opus", "OGG", "OPUS", OPUS_RATES),
    AudioFormat("pcm", "audio/pcm", "pcm", None, None, (PCM_RATE,)),
)


def _soundfile() -> Any:
    """The ``soundfile`` module (imported on first use; it ships no type hints)."""
    return importlib.import_module("soundfile")


def _writable(fmt: AudioFormat) -> bool:
    if fmt.container is None:
        return True
    soundfile = _soundfile()
    return fmt.container in soundfile.available_formats() and fmt.subtype in (
        soundfile.available_subtypes(fmt.container)
    )


@cache
def audio_formats() -> dict[str, AudioFormat]:
    """The formats this installation can write, by name."""
    return {fmt.name: fmt for fmt in _FORMATS if _writable(fmt)}


def audio_format(name: str) -> AudioFormat:
    """The format called ``name``; raises InvalidRequest naming the supported ones."""
    found = audio_formats().get(name.lower())
    if found is None:
        supported = ", ".join(audio_formats())
        raise errors.InvalidRequest(
            f"Audio format '{name}' is not supported here. Use one of: {supported}."
        )
    return found


def resample(
    samples: np.ndarray[Any, np.dtype[np.float32]], source: int, target: int
) -> np.ndarray[Any, np.dtype[np.float32]]:
    """``samples`` at ``source`` Hz, resampled to ``target`` Hz (polyphase filter)."""
    if source == target or len(samples) == 0:
        return samples.astype(np.float32, copy=False)
    signal: Any = importlib.import_module("scipy.signal")
    common = math.gcd(source, target)
    out = signal.resample_poly(samples, target // common, source // common)
    return np.asarray(out, dtype=np.float32)


def _target_rate(fmt: AudioFormat, sample_rate: int) -> int:
    if not fmt.rates or sample_rate in fmt.rates:
        return sample_rate
    return next((rate for rate in fmt.rates if rate >= sample_rate), fmt.rates[-1])


def encode_audio(
    samples: np.ndarray[Any, np.dtype[np.float32]], sample_rate: int, name: str
) -> bytes:
    """Mono float32 ``samples`` in [-1, 1] as the bytes of the format called ``name``."""
    fmt = audio_format(name)
    rate = _target_rate(fmt, sample_rate)
    mono = np.clip(resample(np.asarray(samples, np.float32).ravel(), sample_rate, rate), -1, 1)
    if fmt.container is None:
        pcm: bytes = (mono * 32767).round().astype("<i2").tobytes()
        return pcm
    buffer = io.BytesIO()
    _soundfile().write(buffer, mono, rate, format=fmt.container, subtype=fmt.subtype)
    return buffer.getvalue()
