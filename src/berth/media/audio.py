"""Uploaded audio: check it, decode it (wav, flac, ogg/vorbis/opus, mp3 and what else the
installed libsndfile reads) and turn it into 16 kHz float32 mono samples.

Decoding is CPU work: async callers run :func:`decode_audio` in a worker thread.
"""

from __future__ import annotations

import importlib
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from berth import errors
from berth.tasks.transcribe import SAMPLE_RATE, Samples

MAX_SECONDS = 2 * 60 * 60.0
"""Longest audio accepted by default: two hours."""
MAX_BYTES = 25 * 1024 * 1024
"""Largest encoded file accepted by default."""
READABLE = "WAV, FLAC, OGG (Vorbis or Opus) or MP3"

_MAGIC: tuple[tuple[int, bytes, str], ...] = (
    (0, b"RIFF", "WAV"),
    (0, b"RF64", "WAV"),
    (0, b"fLaC", "FLAC"),
    (0, b"OggS", "OGG"),
    (0, b"ID3", "MP3"),
    (0, b"FORM", "AIFF"),
    (0, b".snd", "AU"),
    (0, b"caff", "CAF"),
)
_UNREADABLE: tuple[tuple[int, bytes, str], ...] = (
    (4, b"ftyp", "MP4/M4A/AAC"),
    (0, b"\x1a\x45\xdf\xa3", "WebM/Matroska"),
    (0, b"\xff\xf1", "AAC (ADTS)"),
    (0, b"\xff\xf9", "AAC (ADTS)"),
    (0, b"0&\xb2u", "WMA"),
    (0, b"%PDF", "PDF"),
    (0, b"\x89PNG", "PNG"),
    (0, b"\xff\xd8\xff", "JPEG"),
)


@dataclass(frozen=True)
class AudioLimits:
    """What an upload may be: at most ``max_bytes`` encoded and ``max_seconds`` long."""

    max_bytes: int = MAX_BYTES
    max_seconds: float = MAX_SECONDS


@dataclass(frozen=True)
class Audio:
    """Decoded audio: 16 kHz float32 mono samples, and what the file was."""

    samples: Samples
    source_rate: int
    source_format: str

    @property
    def duration(self) -> float:
        return len(self.samples) / SAMPLE_RATE


def sniff(data: bytes) -> str | None:
    """The audio format the first bytes announce (None: not one libsndfile is known to read).

    Raises UnsupportedMedia for formats that are known not to be readable."""
    for offset, magic, name in _UNREADABLE:
        if data[offset : offset + len(magic)] == magic:
            raise errors.UnsupportedMedia(
                f"The file is {name}, which Berth cannot decode. Convert it to {READABLE} "
                "(for example `ffmpeg -i INPUT -ar 16000 -ac 1 out.flac`) and send that."
            )
    for offset, magic, name in _MAGIC:
        if data[offset : offset + len(magic)] == magic:
            return name
    if len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0:
        return "MP3"
    return None


def decode_audio(data: bytes, limits: AudioLimits = AudioLimits(), name: str = "The file") -> Audio:
    """``data`` (an encoded audio file) as 16 kHz float32 mono samples.

    Raises InvalidRequest (empty, corrupt, silent-length), UnsupportedMedia (a format it
    cannot read) or MediaTooLarge (over ``limits``), each saying what to send instead."""
    if not data:
        raise errors.InvalidRequest(f"{name} is empty (0 bytes). Send an audio file in {READABLE}.")
    if len(data) > limits.max_bytes:
        raise errors.MediaTooLarge(
            f"{name} is {len(data)} bytes; the most Berth accepts is {limits.max_bytes}. Send a "
            "shorter or more compressed file (FLAC, OGG or MP3), or split it."
        )
    announced = sniff(data)
    samples, rate = _read(data, announced, limits, name)
    mono = samples.mean(axis=1, dtype=np.float32) if samples.ndim == 2 else samples
    return Audio(resample(mono, rate), rate, announced or "audio")


def read_audio_file(path: Path, limits: AudioLimits = AudioLimits()) -> Audio:
    """The audio file at ``path`` decoded like an upload; raises InvalidRequest when it is
    not a readable file."""
    if not path.is_file():
        what = "is not a file" if path.exists() else "does not exist"
        raise errors.InvalidRequest(f"{path} {what}. Give the path of an audio file.")
    size = path.stat().st_size
    if size > limits.max_bytes:
        raise errors.MediaTooLarge(
            f"{path} is {size} bytes; the most Berth reads is {limits.max_bytes}. Split it."
        )
    return decode_audio(path.read_bytes(), limits, name=str(path))


def _read(
    data: bytes, announced: str | None, limits: AudioLimits, name: str
) -> tuple[np.ndarray[Any, np.dtype[np.float32]], int]:
    soundfile: Any = importlib.import_module("soundfile")

    try:
        with soundfile.SoundFile(io.BytesIO(data)) as sound:
            rate = int(sound.samplerate)
            allowed = int(limits.max_seconds * rate)
            if sound.frames > allowed and sound.frames < 2**62:
                raise _too_long(name, sound.frames / rate, limits)
            samples = sound.read(frames=allowed + 1, dtype="float32", always_2d=True)
    except errors.BerthError:
        raise
    except (soundfile.LibsndfileError, RuntimeError, ValueError, EOFError) as exc:
        raise _unreadable(name, announced, exc) from exc
    if len(samples) > allowed:
        raise _too_long(name, len(samples) / rate, limits)
    if len(samples) == 0:
        raise errors.InvalidRequest(
            f"{name} holds no audio (0 samples). Send a recording with sound in it."
        )
    return samples, rate


def _unreadable(name: str, announced: str | None, exc: Exception) -> errors.InvalidRequest:
    if announced is None:
        return errors.UnsupportedMedia(
            f"{name} is not audio in a format Berth can read. Send {READABLE}."
        )
    reason = str(getattr(exc, "error_string", "") or exc).strip().rstrip(".")
    return errors.InvalidRequest(
        f"{name} looks like {announced} but cannot be decoded ({reason}): it is damaged or "
        f"truncated. Send a complete file in {READABLE}."
    )


def _too_long(name: str, seconds: float, limits: AudioLimits) -> errors.MediaTooLarge:
    return errors.MediaTooLarge(
        f"{name} is {seconds:.0f} s long; the most Berth accepts is {limits.max_seconds:.0f} s. "
        "Split it into shorter pieces."
    )


def resample(samples: np.ndarray[Any, Any], rate: int, target: int = SAMPLE_RATE) -> Samples:
    """``samples`` at ``rate`` as float32 at ``target`` samples per second."""
    mono = np.ascontiguousarray(samples, dtype=np.float32)
    if rate == target:
        return mono
    signal: Any = importlib.import_module("scipy.signal")
    common = math.gcd(rate, target)
    out = signal.resample_poly(mono, target // common, rate // common)
    return np.asarray(out, dtype=np.float32)


def encode_wav(samples: np.ndarray[Any, Any], rate: int = SAMPLE_RATE) -> bytes:
    """``samples`` as a 16-bit PCM WAV file."""
    soundfile: Any = importlib.import_module("soundfile")

    buffer = io.BytesIO()
    soundfile.write(buffer, np.asarray(samples, dtype=np.float32), rate, "PCM_16", format="WAV")
    return buffer.getvalue()
