"""Registers Berth's built-in runners through the ``berth.runners`` entry point.

Each runner's module is imported only when a model of it loads (in the model's own process
for the process transport), so the server does not pay for torch, diffusers or onnxruntime
until it needs them.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from berth.hookspecs import Registry
from berth.runners.contract import Runner, RunnerType
from berth.tasks.task import Task


@dataclass(frozen=True)
class Lazy:
    """Creates a runner from ``module:name``, importing the module on first use (picklable,
    so it can be sent to a model process)."""

    module: str
    name: str

    def __call__(self) -> Runner:
        factory: Any = getattr(importlib.import_module(self.module), self.name)
        runner: Runner = factory()
        return runner


def _lazy(
    registry: Registry,
    name: str,
    target: str,
    tasks: set[Task],
    description: str,
    *,
    streaming: bool = False,
    joins: bool = False,
    features: frozenset[str] = frozenset(),
) -> None:
    module, _, attr = target.partition(":")
    registry.add_runner(
        RunnerType(
            name=name,
            create=Lazy(module, attr),
            tasks=frozenset(tasks),
            description=description,
            streaming=streaming,
            joins=joins,
            features=features,
        )
    )


def register(registry: Registry) -> None:
    """Register the built-in runners."""
    _lazy(
        registry,
        "echo",
        "berth.runners.echo:EchoRunner",
        set(Task),
        "Returns its inputs (or a vector per input); streams text word by word. For tests and "
        "demos.",
        streaming=True,
    )
    _lazy(
        registry,
        "sentence-transformers",
        "berth.runners.sentence_transformer:SentenceTransformerRunner",
        {Task.EMBED},
        "Text embeddings with a sentence-transformers model.",
    )
    _lazy(
        registry,
        "transformers",
        "berth.runners.causal_lm:CausalLMRunner",
        {Task.CHAT, Task.COMPLETE},
        "Chat and completions with a transformers causal language model: its chat template, "
        "sampling, token streaming, continuous batching (requests join between tokens), "
        "tools, constrained decoding (JSON schemas, tool calls), logprobs, and LoRA adapters "
        "hosted side by side over one base.",
        streaming=True,
        joins=True,
        features=frozenset({"tools", "grammar", "logprobs", "prompt_logprobs", "adapters"}),
    )
    _lazy(
        registry,
        "llama-cpp",
        "berth.runners.llama_cpp:LlamaCppRunner",
        {Task.CHAT, Task.COMPLETE, Task.EMBED},
        "GGUF models with llama.cpp (the 'llama' extra): the GGUF's chat template, llama.cpp's "
        "samplers, token streaming, continuous batching (a KV stream per request), embeddings; "
        "CPU, or layers offloaded to a GPU; tools and structured output by xgrammar.",
        streaming=True,
        joins=True,
        features=frozenset({"tools", "grammar"}),
    )
    _lazy(
        registry,
        "vllm",
        "berth.runners.vllm:VllmRunner",
        {Task.CHAT, Task.COMPLETE},
        "Chat and completions on a CUDA GPU with vLLM (needs vllm): its paged KV cache and "
        "continuous batching, with the GPU share Berth budgets (memory_estimate).",
        streaming=True,
        joins=True,
    )
    _lazy(
        registry,
        "transformers-vlm",
        "berth.runners.vlm:VisionLanguageRunner",
        {Task.VISION},
        "Chat about images with a transformers image-text-to-text model.",
        streaming=True,
    )
    _lazy(
        registry,
        "diffusers",
        "berth.runners.diffusion:DiffusionRunner",
        {Task.IMAGE},
        "Text-to-image with a diffusers pipeline; reports each denoising step.",
        streaming=True,
    )
    _lazy(
        registry,
        "transformers-asr",
        "berth.runners.speech_to_text:SpeechToTextRunner",
        {Task.TRANSCRIBE},
        "Speech-to-text with a transformers Whisper-family or CTC model; long audio in chunks.",
    )
    _lazy(
        registry,
        "silero-vad",
        "berth.runners.vad:SileroVadRunner",
        {Task.VAD},
        "Voice activity detection with the Silero VAD model: speech segments with times.",
    )
    _lazy(
        registry,
        "espeak-ng",
        "berth.runners.espeak:EspeakRunner",
        {Task.SPEAK},
        "Text-to-speech with espeak-ng (formant synthesis, many languages, always offline).",
    )
    _lazy(
        registry,
        "transformers-tts",
        "berth.runners.neural_tts:NeuralTtsRunner",
        {Task.SPEAK},
        "Text-to-speech with a transformers VITS model (MMS-TTS and others).",
    )
    _lazy(
        registry,
        "kokoro",
        "berth.runners.kokoro:KokoroRunner",
        {Task.SPEAK},
        "Text-to-speech with Kokoro (needs the 'kokoro' package; best on a GPU).",
    )
    _lazy(
        registry,
        "rapidocr",
        "berth.runners.ocr:RapidOcrRunner",
        {Task.OCR},
        "OCR with RapidOCR's ONNX models: text lines with boxes and confidences.",
    )
