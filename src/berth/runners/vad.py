"""The ``silero-vad`` runner: voice activity with the Silero VAD ONNX model.

The model reads 512-sample windows of 16 kHz audio (plus the 64 samples before each) and
carries a recurrent state from window to window; it gives one speech probability per
window (32 ms). :func:`speech_spans` turns those probabilities into spans of speech. The
requests of a batch run side by side as the rows of one batch through the model.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from berth import errors
from berth.media.audio import resample
from berth.models.spec import ModelSpec
from berth.runners.contract import check_options
from berth.tasks.transcribe import SAMPLE_RATE
from berth.tasks.vad import Span, SpeechSpans, VadRequest

WINDOW = 512
"""Samples per model step at 16 kHz."""
CONTEXT = 64
"""Samples of the previous window the model sees with each window."""
STATE_SHAPE = (2, 1, 128)
MODEL_FILE = "silero_vad.onnx"
OPTIONS = {"threads": "CPU threads onnxruntime may use (default 1)."}
FALLING = 0.15
"""Speech ends when the probability falls this far below the threshold (hysteresis)."""

Probabilities = np.ndarray[Any, np.dtype[np.float32]]


def speech_spans(probabilities: Probabilities, request: VadRequest, samples: int) -> SpeechSpans:
    """Spans of speech from per-window probabilities (one per ``WINDOW`` samples at 16 kHz).

    Speech starts at a window at or above ``threshold`` and ends after ``min_silence_ms``
    of windows below ``threshold - 0.15``; shorter pieces than ``min_speech_ms`` are
    dropped; each span is widened by ``pad_ms`` and spans that then touch are merged."""
    duration = samples / SAMPLE_RATE
    step = WINDOW / SAMPLE_RATE
    low = max(request.threshold - FALLING, 0.01)
    silence_windows = max(1, round(request.min_silence_ms / 1000 / step))
    raw: list[tuple[int, int]] = []
    start: int | None = None
    quiet = 0
    for index, probability in enumerate(probabilities.tolist()):
        if start is None:
            if probability >= request.threshold:
                start, quiet = index, 0
            continue
        quiet = quiet + 1 if probability < low else 0
        if quiet >= silence_windows:
            raw.append((start, index - quiet + 1))
            start = None
    if start is not None:
        raw.append((start, len(probabilities)))
    return SpeechSpans(_finish(raw, request, step, duration), duration)


def _finish(
    raw: list[tuple[int, int]], request: VadRequest, step: float, duration: float
) -> tuple[Span, ...]:
    pad = request.pad_ms / 1000
    spans: list[Span] = []
    for first, last in raw:
        if (last - first) * step < request.min_speech_ms / 1000:
            continue
        start, end = max(0.0, first * step - pad), min(duration, last * step + pad)
        if spans and start <= spans[-1].end:
            spans[-1] = Span(spans[-1].start, end)
        else:
            spans.append(Span(start, end))
    return tuple(Span(round(s.start, 3), round(s.end, 3)) for s in spans)


class SileroVadRunner:
    """Turns :class:`VadRequest` items into :class:`SpeechSpans`."""

    def __init__(self) -> None:
        self._session: Any = None

    def load(self, spec: ModelSpec, path: Path | None, device: str) -> None:
        check_options(spec, "silero-vad", OPTIONS)
        model = None if path is None else path / MODEL_FILE
        if model is None or not model.is_file():
            raise errors.ModelLoadFailed(
                f"Model '{spec.alias}' has no {MODEL_FILE}: the silero-vad runner loads it from "
                "the model's folder. Use the source package:silero_vad/data."
            )
        onnxruntime: Any = importlib.import_module("onnxruntime")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = int(spec.options.runner_options.get("threads", 1))
        options.inter_op_num_threads = 1
        self._session = onnxruntime.InferenceSession(
            str(model), sess_options=options, providers=["CPUExecutionProvider"]
        )

    def run(self, batch: Sequence[Any]) -> list[Any]:
        if self._session is None:
            raise errors.ModelError("The silero-vad runner has no model loaded.")
        outputs: list[Any] = [None] * len(batch)
        audio: list[tuple[int, VadRequest, np.ndarray[Any, np.dtype[np.float32]]]] = []
        for index, item in enumerate(batch):
            if not isinstance(item, VadRequest):
                outputs[index] = errors.InvalidRequest(
                    f"The silero-vad runner takes VadRequest items, not {type(item).__name__}."
                )
            else:
                audio.append((index, item, resample(item.samples, item.sample_rate)))
        if audio:
            probabilities = self.probabilities([samples for _, _, samples in audio])
            for (index, item, samples), row in zip(audio, probabilities, strict=True):
                outputs[index] = speech_spans(row, item, len(samples))
        return outputs

    def probabilities(
        self, streams: Sequence[np.ndarray[Any, np.dtype[np.float32]]]
    ) -> list[Probabilities]:
        """Speech probability per window of each 16 kHz stream, the streams run as one batch
        (shorter ones padded with silence, their extra windows dropped)."""
        counts = [-(-len(samples) // WINDOW) for samples in streams]
        longest = max(counts, default=0)
        padded = np.zeros((len(streams), CONTEXT + longest * WINDOW), np.float32)
        for row, samples in enumerate(streams):
            padded[row, CONTEXT : CONTEXT + len(samples)] = samples
        state = np.zeros((STATE_SHAPE[0], len(streams), STATE_SHAPE[2]), np.float32)
        rate = np.array(SAMPLE_RATE, dtype=np.int64)
        found = np.zeros((len(streams), longest), np.float32)
        for window in range(longest):
            chunk = padded[:, window * WINDOW : (window + 1) * WINDOW + CONTEXT]
            out, state = self._session.run(None, {"input": chunk, "state": state, "sr": rate})
            found[:, window] = np.asarray(out, np.float32).reshape(len(streams))
        return [found[row, :count] for row, count in enumerate(counts)]

    def memory_bytes(self) -> int | None:
        return None

    def close(self) -> None:
        self._session = None
