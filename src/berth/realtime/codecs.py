"""The Realtime API's audio formats: 16-bit PCM at 24 kHz, and G.711 (mu-law, A-law) at 8 kHz.

Audio arrives base64-encoded in ``input_audio_buffer.append`` and leaves the same way in
``response.output_audio.delta``. Models here read 16 kHz float32 mono; :func:`decode` gives
that, :func:`encode` turns a speech model's output into the session's output format.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from berth.media.audio import resample
from berth.realtime.events import BadEvent
from berth.tasks.transcribe import SAMPLE_RATE, Samples

FormatName = Literal["audio/pcm", "audio/pcmu", "audio/pcma"]


@dataclass(frozen=True)
class AudioFormat:
    """A wire format: its name in the GA protocol, the beta name, and its sample rate."""

    type: FormatName
    legacy: str
    rate: int
    bytes_per_sample: int

    def as_json(self) -> dict[str, object]:
        if self.type == "audio/pcm":
            return {"type": self.type, "rate": self.rate}
        return {"type": self.type}


PCM16 = AudioFormat("audio/pcm", "pcm16", 24_000, 2)
PCMU = AudioFormat("audio/pcmu", "g711_ulaw", 8_000, 1)
PCMA = AudioFormat("audio/pcma", "g711_alaw", 8_000, 1)
FORMATS = {f.type: f for f in (PCM16, PCMU, PCMA)} | {f.legacy: f for f in (PCM16, PCMU, PCMA)}


def audio_format(value: object, param: str) -> AudioFormat:
    """The format that ``value`` names (``{"type": "audio/pcm", "rate": 24000}`` or a beta
    name such as ``"pcm16"``); raises InvalidRequest naming ``param`` otherwise."""
    name = value.get("type") if isinstance(value, dict) else value
    found = FORMATS.get(name) if isinstance(name, str) else None
    if found is None:
        names = ", ".join(sorted(FORMATS))
        raise BadEvent(f"{param} must be one of {names}; got {value!r}.", param=param)
    rate = value.get("rate", found.rate) if isinstance(value, dict) else found.rate
    if rate != found.rate:
        raise BadEvent(
            f"{param}: {found.type} is {found.rate} Hz here; got rate {rate!r}.", param=param
        )
    return found


def _bytes(payload: str, param: str) -> bytes:
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadEvent(
            f"{param} is not valid base64 ({exc}). Send the audio bytes base64-encoded.",
            param=param,
        ) from exc


def decode(payload: str, fmt: AudioFormat, param: str = "audio") -> Samples:
    """Base64 audio in ``fmt`` (a whole clip) as 16 kHz float32 mono samples."""
    return resample(decode_wire(payload, fmt, param), fmt.rate, SAMPLE_RATE)


def decode_wire(payload: str, fmt: AudioFormat, param: str = "audio") -> Samples:
    """Base64 audio in ``fmt`` as float32 mono samples at the format's own rate."""
    data = _bytes(payload, param)
    if len(data) % fmt.bytes_per_sample:
        raise BadEvent(
            f"{param} holds {len(data)} bytes, not whole {fmt.bytes_per_sample}-byte samples of "
            f"{fmt.type}. Send complete samples.",
            param=param,
        )
    if fmt is PCM16:
        samples = np.frombuffer(data, "<i2").astype(np.float32) / 32768.0
    elif fmt is PCMU:
        samples = ulaw_decode(np.frombuffer(data, np.uint8))
    else:
        samples = alaw_decode(np.frombuffer(data, np.uint8))
    return samples


def encode(samples: np.ndarray[Any, Any], rate: int, fmt: AudioFormat) -> bytes:
    """Float samples at ``rate`` Hz as raw bytes in ``fmt`` (resampled to its rate)."""
    mono = np.asarray(samples, np.float32).ravel()
    out = np.clip(resample(mono, rate, fmt.rate) if rate != fmt.rate else mono, -1.0, 1.0)
    if fmt is PCM16:
        return bytes((out * 32767.0).round().astype("<i2").tobytes())
    if fmt is PCMU:
        return bytes(ulaw_encode(out).tobytes())
    return bytes(alaw_encode(out).tobytes())


def milliseconds(raw_bytes: int, fmt: AudioFormat) -> int:
    """How long ``raw_bytes`` of ``fmt`` play, in milliseconds."""
    return raw_bytes * 1000 // (fmt.rate * fmt.bytes_per_sample)


# G.711 (ITU-T): 8-bit logarithmic codes for 14-bit (mu-law) and 13-bit (A-law) samples.

_ULAW_ENDS = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])
_ALAW_ENDS = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF])
_BIAS = 0x84


def _linear16(samples: np.ndarray[Any, Any]) -> np.ndarray[Any, np.dtype[np.int32]]:
    scaled = (np.asarray(samples, np.float32) * 32767.0).round()
    linear: np.ndarray[Any, np.dtype[np.int32]] = np.clip(scaled, -32768, 32767).astype(np.int32)
    return linear


def ulaw_encode(samples: np.ndarray[Any, Any]) -> np.ndarray[Any, np.dtype[np.uint8]]:
    pcm = _linear16(samples) >> 2  # 14 bits
    mask = np.where(pcm < 0, 0x7F, 0xFF)
    magnitude = np.minimum(np.abs(pcm), 8159) + (_BIAS >> 2)
    segment = np.searchsorted(_ULAW_ENDS, magnitude, side="left")
    code = (np.minimum(segment, 7) << 4) | ((magnitude >> (np.minimum(segment, 7) + 1)) & 0x0F)
    code = np.where(segment >= 8, 0x7F, code)
    return (code ^ mask).astype(np.uint8)


def alaw_encode(samples: np.ndarray[Any, Any]) -> np.ndarray[Any, np.dtype[np.uint8]]:
    pcm = _linear16(samples) >> 3  # 13 bits
    mask = np.where(pcm >= 0, 0xD5, 0x55)
    magnitude = np.where(pcm >= 0, pcm, -pcm - 1)
    segment = np.searchsorted(_ALAW_ENDS, magnitude, side="left")
    shift = np.where(segment < 2, 1, np.minimum(segment, 7))
    code = (np.minimum(segment, 7) << 4) | ((magnitude >> shift) & 0x0F)
    code = np.where(segment >= 8, 0x7F, code)
    return (code ^ mask).astype(np.uint8)


def ulaw_decode(codes: np.ndarray[Any, Any]) -> Samples:
    code = ~np.asarray(codes, np.int32) & 0xFF
    sign, exponent, mantissa = code & 0x80, (code >> 4) & 0x07, code & 0x0F
    magnitude = (((mantissa << 3) + _BIAS) << exponent) - _BIAS
    pcm = np.where(sign != 0, -magnitude, magnitude)
    return (pcm.astype(np.float32) / 32768.0).astype(np.float32)


def alaw_decode(codes: np.ndarray[Any, Any]) -> Samples:
    code = np.asarray(codes, np.int32) ^ 0x55
    sign, exponent, mantissa = code & 0x80, (code >> 4) & 0x07, code & 0x0F
    magnitude = np.where(
        exponent == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << (exponent - 1)
    )
    pcm = np.where(sign != 0, magnitude, -magnitude)
    return (pcm.astype(np.float32) / 32768.0).astype(np.float32)
