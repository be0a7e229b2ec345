"""The ``kokoro`` runner: text-to-speech with Kokoro-82M through the ``kokoro`` package.

Best on a GPU box. The package is not a dependency of Berth: ``pip install kokoro`` (its
grapheme-to-phoneme step needs espeak-ng for some languages). The model loads from the
pulled files (``config.json``, ``kokoro-v1_0.pth``, ``voices/*.pt``), never from the network.
A voice's first letter is its language (``af_heart`` is American English); one pipeline per
language shares the one model.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from berth import errors
from berth.models.spec import ModelSpec
from berth.tasks.speak import Speech, SpeechRequest

SAMPLE_RATE = 24_000
REPO_ID = "hexgrad/Kokoro-82M"
WEIGHTS = "kokoro-v1_0.pth"
DEFAULT_VOICE = "af_heart"
OPENAI_VOICES = {
    "alloy": "af_alloy",
    "ash": "am_adam",
    "ballad": "bm_george",
    "coral": "af_heart",
    "echo": "am_echo",
    "fable": "bm_fable",
    "nova": "af_nova",
    "onyx": "am_onyx",
    "sage": "af_sarah",
    "shimmer": "af_bella",
    "verse": "am_michael",
}
"""OpenAI's voice names, mapped to Kokoro voices."""


class KokoroRunner:
    """Speaks :class:`SpeechRequest` items with Kokoro; answers :class:`Speech` at 24 kHz."""

    def __init__(self) -> None:
        self._model: Any = None
        self._pipelines: dict[str, Any] = {}
        self._voices: Path | None = None
        self._kokoro: Any = None

    def load(self, spec: ModelSpec, path: Path | None, device: str) -> None:
        try:
            kokoro: Any = importlib.import_module("kokoro")
        except ImportError as exc:
            raise errors.ModelLoadFailed(
                f"Model '{spec.alias}' needs the kokoro package, which is not installed. Run "
                "`pip install kokoro` in Berth's environment (it also needs espeak-ng for some "
                "languages), then load the model again."
            ) from exc
        if path is None or not (path / WEIGHTS).is_file():
            raise errors.ModelLoadFailed(
                f"Model '{spec.alias}' has no {WEIGHTS}: pull it with "
                f"`berth models pull {spec.alias}`."
            )
        model = kokoro.KModel(
            repo_id=REPO_ID, config=str(path / "config.json"), model=str(path / WEIGHTS)
        )
        self._model = model.to(device).eval()
        self._voices = path / "voices"
        self._kokoro = kokoro

    def run(self, batch: Sequence[Any]) -> list[Any]:
        if self._model is None:
            raise errors.ModelError("The kokoro runner has no model loaded.")
        return [self._speak(item) for item in batch]

    def _voice_file(self, voice: str | None) -> Path:
        name = OPENAI_VOICES.get((voice or DEFAULT_VOICE).lower(), voice or DEFAULT_VOICE)
        assert self._voices is not None
        found = self._voices / f"{name}.pt"
        if not found.is_file():
            known = sorted(p.stem for p in self._voices.glob("*.pt"))[:8]
            raise errors.InvalidRequest(
                f"Voice '{voice}' is not a Kokoro voice. Use one of OpenAI's "
                f"({', '.join(OPENAI_VOICES)}) or a Kokoro voice such as {', '.join(known)}."
            )
        return found

    def _pipeline(self, lang_code: str) -> Any:
        if lang_code not in self._pipelines:
            self._pipelines[lang_code] = self._kokoro.KPipeline(
                lang_code=lang_code, repo_id=REPO_ID, model=self._model
            )
        return self._pipelines[lang_code]

    def _speak(self, item: Any) -> Speech | Exception:
        if not isinstance(item, SpeechRequest):
            return errors.InvalidRequest(
                f"The kokoro runner takes SpeechRequest inputs, not {type(item).__name__}."
            )
        try:
            voice = self._voice_file(item.voice)
        except errors.InvalidRequest as exc:
            return exc
        pipeline = self._pipeline(voice.stem[0])
        parts = [
            np.asarray(audio, dtype=np.float32)
            for _, _, audio in pipeline(item.text, voice=str(voice), speed=item.speed)
            if audio is not None
        ]
        samples = np.concatenate(parts) if parts else np.zeros(0, np.float32)
        return Speech(np.clip(samples, -1.0, 1.0), SAMPLE_RATE)

    def memory_bytes(self) -> int | None:
        return None

    def close(self) -> None:
        self._model = None
        self._pipelines = {}
