"""The ``transformers-tts`` runner: text-to-speech with a transformers VITS model (MMS-TTS).

Requests with the same voice and speed run as one padded batch; each waveform is cut to its
own length. VITS samples noise, so the runner seeds torch before every batch (runner option
``seed``, default 0): the same text alone in a batch always sounds the same.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from berth import errors
from berth.models.spec import ModelSpec
from berth.runners.contract import check_options
from berth.runners.espeak import OPENAI_VOICES
from berth.tasks.speak import Speech, SpeechRequest

OPTIONS = {
    "seed": "Seed torch's noise before each batch, for repeatable audio (default 0).",
}
DEFAULT_VOICES = frozenset({"default", *OPENAI_VOICES})
"""Voice names that mean the model's first (or only) speaker."""


class NeuralTtsRunner:
    """Speaks :class:`SpeechRequest` items with a VitsModel; answers :class:`Speech`."""

    def __init__(self) -> None:
        self._model: Any = None
        self._tokenizer: Any = None
        self._device = "cpu"
        self._seed = 0

    def load(self, spec: ModelSpec, path: Path | None, device: str) -> None:
        if path is None:
            raise errors.ModelLoadFailed(
                f"Model '{spec.alias}' has no files: the transformers-tts runner loads a model "
                "directory. Give the catalog entry a source."
            )
        check_options(spec, "transformers-tts", OPTIONS)
        import transformers
        from transformers import AutoTokenizer, VitsModel

        model_class: Any = VitsModel

        quiet: Callable[[], None] = transformers.utils.logging.disable_progress_bar
        quiet()
        self._tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        self._model = model_class.from_pretrained(str(path), local_files_only=True).to(device)
        self._model.eval()
        self._device = device
        self._seed = int(spec.options.runner_options.get("seed", 0))

    @property
    def sample_rate(self) -> int:
        return int(self._model.config.sampling_rate)

    def run(self, batch: Sequence[Any]) -> list[Any]:
        if self._model is None:
            raise errors.ModelError("The transformers-tts runner has no model loaded.")
        outputs: list[Any] = [None] * len(batch)
        groups: dict[tuple[int, float], list[int]] = {}
        for index, item in enumerate(batch):
            try:
                key = (self._speaker(item), float(item.speed))
            except errors.InvalidRequest as exc:
                outputs[index] = exc
                continue
            groups.setdefault(key, []).append(index)
        for (speaker, speed), indexes in groups.items():
            texts = [batch[i].text for i in indexes]
            for index, output in zip(indexes, self._speak(texts, speaker, speed), strict=True):
                outputs[index] = output
        return outputs

    def _speaker(self, item: Any) -> int:
        """The speaker id a request's voice names: a number, or a default name for 0."""
        if not isinstance(item, SpeechRequest):
            raise errors.InvalidRequest(
                f"The transformers-tts runner takes SpeechRequest inputs, not "
                f"{type(item).__name__}."
            )
        voice = (item.voice or "default").lower()
        speakers = self._speakers
        if voice in DEFAULT_VOICES:
            return 0
        if voice.isdigit() and int(voice) < speakers:
            return int(voice)
        raise errors.InvalidRequest(
            f"Voice '{item.voice}' is not a voice of this model. It has {speakers} speaker(s): "
            f"use 'default' (or an OpenAI voice name such as 'alloy') or a speaker number "
            f"from 0 to {speakers - 1}."
        )

    def _speak(self, texts: list[str], speaker: int, speed: float) -> list[Speech | Exception]:
        import torch

        ids = [self._tokenizer(text)["input_ids"] for text in texts]
        spoken = [i for i, tokens in enumerate(ids) if len(tokens) > 0]
        outputs: list[Speech | Exception] = [
            errors.InvalidRequest(
                f"The text {text[:40]!r} has no characters this model can speak. Give it text "
                "in the model's language and script."
            )
            for text in texts
        ]
        if not spoken:
            return outputs
        inputs = self._tokenizer([texts[i] for i in spoken], return_tensors="pt", padding=True).to(
            self._device
        )
        self._model.speaking_rate = speed
        torch.manual_seed(self._seed)
        with torch.inference_mode():
            result = self._model(**inputs, speaker_id=speaker if self._speakers > 1 else None)
        waves = result.waveform.float().cpu().numpy()
        for row, index in enumerate(spoken):
            length = int(result.sequence_lengths[row])
            samples = np.clip(waves[row, :length], -1.0, 1.0).astype(np.float32)
            outputs[index] = Speech(samples, self.sample_rate)
        return outputs

    @property
    def _speakers(self) -> int:
        return int(self._model.config.num_speakers)

    def memory_bytes(self) -> int | None:
        return None

    def close(self) -> None:
        self._model = None
        self._tokenizer = None
        if self._device.startswith("cuda"):
            import torch

            torch.cuda.empty_cache()
