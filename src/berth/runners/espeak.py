"""The ``espeak-ng`` runner: formant text-to-speech through libespeak-ng's C API.

The library and its voice data come from the ``espeakng-loader`` package, so it works
offline from the first start. libespeak-ng keeps global state and is not thread-safe: one
module-level lock serialises every call into it.
"""

from __future__ import annotations

import ctypes
import importlib
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from berth import errors
from berth.models.spec import ModelSpec
from berth.runners.contract import check_options
from berth.tasks.speak import Speech, SpeechRequest

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_PARAM_RATE = 1
_EE_OK = 0
_MIN_RATE, _MAX_RATE = 80, 700
"""espeak-ng's slowest rate, and the fastest Berth asks of it (4x the default)."""
DEFAULT_RATE = 175
"""espeak-ng's default speaking rate, in words per minute."""

OPENAI_VOICES = {
    "alloy": "en-us+f3",
    "ash": "en-us+m3",
    "ballad": "en+m5",
    "coral": "en-us+f2",
    "echo": "en-us+m1",
    "fable": "en+m2",
    "nova": "en-us+f4",
    "onyx": "en-us+m7",
    "sage": "en+f5",
    "shimmer": "en-us+f1",
    "verse": "en+m4",
}
"""OpenAI's voice names, mapped to espeak-ng voices and variants."""
EXAMPLE_VOICES = ("en", "en-us", "en-gb", "de", "fr", "es", "it", "pt", "nl")
"""A few espeak-ng voices to suggest in error messages."""
OPTIONS = {"voice": "The voice for requests that name none (default 'en')."}

_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)
_VOICE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _+-]{0,63}$")
"""What a voice name may look like: espeak-ng reads it as a path under its data folder."""
_lock = threading.Lock()
_state: dict[str, Any] = {}


def _library() -> tuple[ctypes.CDLL, int]:
    """The initialised library and its sample rate (call with the lock held)."""
    if "lib" not in _state:
        espeakng_loader: Any = importlib.import_module("espeakng_loader")
        lib = ctypes.CDLL(espeakng_loader.get_library_path())
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetSynthCallback.argtypes = [_CALLBACK]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        data = espeakng_loader.get_data_path().encode()
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data, _INITIALIZE_DONT_EXIT)
        if rate <= 0:
            raise RuntimeError(f"espeak-ng failed to initialise with its data at {data!r}")
        chunks: list[np.ndarray[Any, np.dtype[np.int16]]] = []

        def collect(wav: Any, count: int, events: Any) -> int:
            if wav and count > 0:
                chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
            return 0

        callback = _CALLBACK(collect)
        lib.espeak_SetSynthCallback(callback)
        _state.update(lib=lib, rate=rate, chunks=chunks, callback=callback)
    return _state["lib"], int(_state["rate"])


def _voice_name(voice: str) -> str:
    return OPENAI_VOICES.get(voice.lower(), voice)


def synthesize(
    text: str, voice: str = "en", rate: int = DEFAULT_RATE
) -> tuple[np.ndarray[Any, np.dtype[np.float32]], int]:
    """Speak ``text`` with espeak-ng: float32 mono samples in [-1, 1] and their sample rate.

    ``voice`` is an espeak-ng voice ("en", "en-us", "de", "en+f3") or an OpenAI voice name;
    ``rate`` is in words per minute (80..700; slower asks sound as 80). Raises
    ``errors.InvalidRequest`` for a voice espeak-ng does not know."""
    name = _voice_name(voice)
    with _lock:
        lib, sample_rate = _library()
        if not _VOICE_NAME.match(name) or lib.espeak_SetVoiceByName(name.encode()) != _EE_OK:
            raise errors.InvalidRequest(
                f"Voice '{voice}' is not an espeak-ng voice. Use a language code such as "
                f"{', '.join(EXAMPLE_VOICES)}, or one of OpenAI's: {', '.join(OPENAI_VOICES)}."
            )
        lib.espeak_SetParameter(_PARAM_RATE, int(np.clip(rate, _MIN_RATE, _MAX_RATE)), 0)
        chunks: list[np.ndarray[Any, np.dtype[np.int16]]] = _state["chunks"]
        chunks.clear()
        data = text.encode() + b"\0"
        status = lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        pcm = np.concatenate(chunks) if chunks else np.zeros(0, np.int16)
        chunks.clear()
    if status != _EE_OK:
        raise RuntimeError(f"espeak-ng failed to synthesise (status {status})")
    return (pcm.astype(np.float32) / 32768.0).astype(np.float32), sample_rate


class EspeakRunner:
    """Text-to-speech with espeak-ng: a :class:`SpeechRequest` in, a :class:`Speech` out.

    Speed 1.0 is 175 words per minute; espeak-ng speaks no slower than 80, so speeds below
    about 0.46 sound as 0.46. Runner option ``voice`` sets the default voice (default "en").
    """

    def __init__(self) -> None:
        self._default_voice = "en"

    def load(self, spec: ModelSpec, path: Path | None, device: str) -> None:
        check_options(spec, "espeak-ng", OPTIONS)
        self._default_voice = str(spec.options.runner_options.get("voice", "en"))
        try:
            synthesize("", self._default_voice)
        except errors.InvalidRequest as exc:
            raise errors.ModelLoadFailed(f"Model '{spec.alias}': {exc.message}") from exc

    def run(self, batch: Sequence[Any]) -> list[Any]:
        return [self._speak(item) for item in batch]

    def _speak(self, item: Any) -> Speech | Exception:
        if not isinstance(item, SpeechRequest):
            return errors.InvalidRequest(
                f"The espeak-ng runner takes SpeechRequest inputs, not {type(item).__name__}."
            )
        rate = round(DEFAULT_RATE * item.speed)
        try:
            samples, sample_rate = synthesize(item.text, item.voice or self._default_voice, rate)
        except errors.InvalidRequest as exc:
            return exc
        return Speech(samples, sample_rate)

    def memory_bytes(self) -> int | None:
        return None

    def close(self) -> None:
        """Nothing to free: the library stays loaded for the life of the process."""
