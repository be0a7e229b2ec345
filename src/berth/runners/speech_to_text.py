"""The ``transformers-asr`` runner: speech-to-text with a transformers Whisper-family or CTC
(wav2vec2 and kin) model, chosen by the model's config.

Audio is cut into windows (Whisper's own, 30 s for real models; ``chunk_seconds`` for CTC
models); the windows of every request in a batch are decoded together, ``chunk_batch`` at a
time, and each window becomes one :class:`Segment` with its offset in the request's audio.
"""

from __future__ import annotations

import importlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from berth import errors
from berth.models.spec import ModelSpec
from berth.runners.contract import check_options
from berth.tasks.transcribe import SAMPLE_RATE, Samples, Segment, Transcript, TranscriptionRequest

OPTIONS = {
    "chunk_batch": "Windows of audio decoded at once (default 8).",
    "chunk_seconds": "Window length for CTC models, in seconds (default 30; Whisper models use "
    "their own window).",
    "language": "Language code reported for a CTC model's transcripts (default: none).",
    "max_new_tokens": "Most tokens a Whisper model writes per window (default: the model's "
    "generation config).",
}


@dataclass(frozen=True)
class Window:
    """A piece of one request's audio: which request, where it starts, its samples."""

    request: int
    offset: int
    samples: Samples


class Engine(Protocol):
    """How one model family turns windows of audio into text."""

    window: int
    """Samples per window."""

    def refusal(self, request: TranscriptionRequest) -> str | None:
        """Why this model cannot do ``request``, or None."""
        ...

    def key(self, request: TranscriptionRequest, window: Window) -> tuple[Any, ...]:
        """Windows with equal keys may be decoded in one batch."""
        ...

    def decode(
        self, windows: Sequence[Window], request: TranscriptionRequest
    ) -> list[tuple[str, str | None]]:
        """Text and language (if known) per window; all windows share ``key``."""
        ...


def _transformers() -> Any:
    """The transformers library, imported on first use (in the model's process)."""
    return importlib.import_module("transformers")


def _dtype(name: str, device: str) -> Any:
    import torch

    if name == "auto":
        return torch.float16 if device.startswith("cuda") else torch.float32
    return getattr(torch, name)


class WhisperEngine:
    """Whisper: log-mel windows, generation with the model's language and task tokens."""

    def __init__(self, path: Path, device: str, dtype: Any, options: dict[str, Any]) -> None:
        transformers = _transformers()
        self.processor = transformers.AutoProcessor.from_pretrained(path, local_files_only=True)
        self.model = transformers.WhisperForConditionalGeneration.from_pretrained(
            path, local_files_only=True, dtype=dtype
        ).to(device)
        self.model.eval()
        self.window = int(self.processor.feature_extractor.n_samples)
        config = self.model.generation_config
        self.multilingual = bool(getattr(config, "is_multilingual", False))
        self.languages = {
            token_id: token.strip("<|>")
            for token, token_id in (getattr(config, "lang_to_id", None) or {}).items()
        }
        self.max_new_tokens = options.get("max_new_tokens")

    def refusal(self, request: TranscriptionRequest) -> str | None:
        if request.language is None or not self.multilingual:
            return None
        if _code(request.language) in self.languages.values():
            return None
        known = ", ".join(sorted(self.languages.values()))
        return (
            f"This model does not know the language '{request.language}'. Use one of: {known}, "
            "or leave language out to have it detected."
        )

    def key(self, request: TranscriptionRequest, window: Window) -> tuple[Any, ...]:
        return (request.language, request.task)

    def decode(
        self, windows: Sequence[Window], request: TranscriptionRequest
    ) -> list[tuple[str, str | None]]:
        import torch

        features = self.processor.feature_extractor(
            [w.samples for w in windows], sampling_rate=SAMPLE_RATE, return_tensors="pt"
        ).input_features.to(self.model.device, self.model.dtype)
        kwargs: dict[str, Any] = {"return_dict_in_generate": True}
        if self.multilingual:
            language = None if request.language is None else _code(request.language)
            kwargs.update(language=language, task=request.task)
        if self.max_new_tokens is not None:
            kwargs["max_new_tokens"] = int(self.max_new_tokens)
        with torch.inference_mode():
            sequences = self.model.generate(features, **kwargs).sequences
        texts = self.processor.batch_decode(sequences, skip_special_tokens=True)
        return [
            (str(text).strip(), self._language(row.tolist()))
            for text, row in zip(texts, sequences, strict=True)
        ]

    def _language(self, tokens: list[int]) -> str | None:
        if not self.multilingual:
            return "en"
        for token in tokens[:4]:
            if token in self.languages:
                return str(self.languages[token])
        return None


class CtcEngine:
    """CTC models (wav2vec2, HuBERT, ...): one forward pass and greedy decoding per window."""

    def __init__(self, path: Path, device: str, dtype: Any, options: dict[str, Any]) -> None:
        transformers = _transformers()
        self.processor = transformers.AutoProcessor.from_pretrained(path, local_files_only=True)
        self.model = transformers.AutoModelForCTC.from_pretrained(
            path, local_files_only=True, dtype=dtype
        )
        self.model.to(device).eval()
        self.window = int(float(options.get("chunk_seconds", 30)) * SAMPLE_RATE)
        self.language: str | None = options.get("language")

    def refusal(self, request: TranscriptionRequest) -> str | None:
        if request.task == "translate":
            return (
                "This model transcribes only; it cannot translate. Use a Whisper model for "
                "translations."
            )
        return None

    def key(self, request: TranscriptionRequest, window: Window) -> tuple[Any, ...]:
        # Windows of equal length batch without padding, so a batch decodes as one by one.
        return (len(window.samples),)

    def decode(
        self, windows: Sequence[Window], request: TranscriptionRequest
    ) -> list[tuple[str, str | None]]:
        import torch

        inputs = self.processor(
            [w.samples for w in windows], sampling_rate=SAMPLE_RATE, return_tensors="pt"
        )
        values = inputs.input_values.to(self.model.device, self.model.dtype)
        with torch.inference_mode():
            logits = self.model(values).logits
        texts = self.processor.batch_decode(logits.argmax(dim=-1), skip_special_tokens=True)
        return [(str(text).strip(), self.language) for text in texts]


def _engine(spec: ModelSpec, path: Path, device: str) -> Engine:
    config = _transformers().AutoConfig.from_pretrained(path, local_files_only=True)
    dtype = _dtype(spec.options.dtype, device)
    options = spec.options.runner_options
    if config.model_type == "whisper":
        return WhisperEngine(path, device, dtype, options)
    if any(name.endswith("ForCTC") for name in config.architectures or ()):
        return CtcEngine(path, device, dtype, options)
    raise errors.ModelLoadFailed(
        f"Model '{spec.alias}' is a {config.model_type} model; the transformers-asr runner "
        "loads Whisper models and CTC models (architectures ending in ForCTC)."
    )


class SpeechToTextRunner:
    """Turns :class:`TranscriptionRequest` items into :class:`Transcript` items."""

    def __init__(self) -> None:
        self._engine: Engine | None = None
        self._chunk_batch = 8
        self._device = "cpu"

    def load(self, spec: ModelSpec, path: Path | None, device: str) -> None:
        check_options(spec, "transformers-asr", OPTIONS)
        if path is None:
            raise errors.ModelLoadFailed(
                f"Model '{spec.alias}' has no files: the transformers-asr runner loads a model "
                "directory. Give the catalog entry a source."
            )
        logging = _transformers().utils.logging
        logging.disable_progress_bar()
        logging.set_verbosity_error()
        self._engine = _engine(spec, path, device)
        self._chunk_batch = max(1, int(spec.options.runner_options.get("chunk_batch", 8)))
        self._device = device

    def run(self, batch: Sequence[Any]) -> list[Any]:
        engine = self._engine
        if engine is None:
            raise errors.ModelError("The transformers-asr runner has no model loaded.")
        outputs: list[Any] = [_refusal(item, engine) for item in batch]
        windows = [
            Window(index, start, item.samples[start : start + engine.window])
            for index, item in enumerate(batch)
            if outputs[index] is None
            for start in range(0, len(item.samples), engine.window)
        ]
        decoded = self._decode(engine, batch, windows)
        pieces: dict[int, list[tuple[Window, str, str | None]]] = defaultdict(list)
        for window, (text, language) in zip(windows, decoded, strict=True):
            pieces[window.request].append((window, text, language))
        for index, item in enumerate(batch):
            if outputs[index] is None:
                outputs[index] = _transcript(item, pieces[index])
        return outputs

    def _decode(
        self, engine: Engine, batch: Sequence[Any], windows: list[Window]
    ) -> list[tuple[str, str | None]]:
        groups: dict[tuple[Any, ...], list[int]] = defaultdict(list)
        for position, window in enumerate(windows):
            groups[engine.key(batch[window.request], window)].append(position)
        decoded: list[tuple[str, str | None]] = [("", None)] * len(windows)
        for positions in groups.values():
            for first in range(0, len(positions), self._chunk_batch):
                part = positions[first : first + self._chunk_batch]
                request = batch[windows[part[0]].request]
                results = engine.decode([windows[p] for p in part], request)
                for position, result in zip(part, results, strict=True):
                    decoded[position] = result
        return decoded

    def memory_bytes(self) -> int | None:
        return None

    def close(self) -> None:
        self._engine = None
        if self._device.startswith("cuda"):
            import torch

            torch.cuda.empty_cache()


def _refusal(item: Any, engine: Engine) -> errors.InvalidRequest | None:
    """Why ``item`` cannot be transcribed, or None."""
    if not isinstance(item, TranscriptionRequest):
        return errors.InvalidRequest(
            f"The transformers-asr runner takes TranscriptionRequest items, not "
            f"{type(item).__name__}."
        )
    refused = engine.refusal(item)
    return None if refused is None else errors.InvalidRequest(refused)


def _code(language: str) -> str:
    """A language code from a code ("en"), a Whisper token ("<|en|>") or a name ("English")."""
    whisper = importlib.import_module("transformers.models.whisper.tokenization_whisper")
    name = language.strip().strip("<|>").lower()
    code: str = whisper.TO_LANGUAGE_CODE.get(name, name)
    return code


def _transcript(
    request: TranscriptionRequest, pieces: list[tuple[Window, str, str | None]]
) -> Transcript:
    segments = tuple(
        Segment(
            round(window.offset / SAMPLE_RATE, 3),
            round((window.offset + len(window.samples)) / SAMPLE_RATE, 3),
            text,
        )
        for window, text, _ in pieces
        if text
    )
    found = [language for _, _, language in pieces if language]
    language = max(sorted(set(found)), key=found.count) if found else request.language
    text = " ".join(segment.text for segment in segments)
    return Transcript(text, language, round(request.duration, 3), segments)
