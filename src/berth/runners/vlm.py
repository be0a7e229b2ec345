"""The ``transformers-vlm`` runner: chat about images with a transformers image-text-to-text
model (Qwen2.5-VL, LLaVA, SmolVLM, ...).

Each :class:`GenerationRequest` is a conversation whose messages may carry encoded images
(:attr:`ChatMessage.images`). The model's processor renders the conversation with its chat
template (an image placeholder per image, before the message's text) and turns the images
into pixels; generation runs in a helper thread that hands tokens back one by one, so
``stream`` yields :class:`TextDelta` pieces as they are made, then one :class:`Generation`
with the finish reason and token counts. Requests run one at a time; a cancelled one stops
at its next token.
"""

from __future__ import annotations

import dataclasses
import functools
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from berth import errors
from berth.media.images import decode_image
from berth.models.spec import ModelSpec
from berth.runners.contract import Cancelled, check_options, never_cancelled
from berth.tasks.generate import (
    ChatMessage,
    FinishReason,
    Generation,
    GenerationRequest,
    TextDelta,
    cut_at_stop,
)

OPTIONS = {
    "max_new_tokens": "Tokens to generate when a request sets no max_tokens (default 512).",
}
DEFAULT_MAX_NEW_TOKENS = 512
DTYPES = {"float32", "float16", "bfloat16"}
_DONE = object()


def hf_messages(messages: Sequence[ChatMessage]) -> list[dict[str, Any]]:
    """Messages in the processor's chat format: an image part per image, then the text."""
    return [
        {
            "role": message.role,
            "content": [{"type": "image"} for _ in message.images]
            + [{"type": "text", "text": message.content}],
        }
        for message in messages
    ]


def held_back(text: str, stops: tuple[str, ...]) -> int:
    """How many characters at the end of ``text`` must wait: a byte sequence still being
    decoded, or the start of a stop sequence."""
    hold = len(text) - len(text.rstrip("\ufffd"))
    for stop in stops:
        for size in range(min(len(stop) - 1, len(text)), 0, -1):
            if text.endswith(stop[:size]):
                hold = max(hold, size)
                break
    return hold


class TokenQueue:
    """A transformers streamer: the generated token ids, one list per step, into a queue
    (the prompt, which generate sends first, is skipped)."""

    def __init__(self) -> None:
        self.tokens: queue.Queue[Any] = queue.Queue()
        self._prompt_seen = False

    def put(self, value: Any) -> None:
        if not self._prompt_seen:
            self._prompt_seen = True
            return
        self.tokens.put(value.reshape(-1).tolist())

    def end(self) -> None:
        self.tokens.put(_DONE)


class Halt:
    """A stopping criterion that ends generation once ``stop()`` is called or the caller
    went away."""

    def __init__(self, cancelled: Callable[[], bool]) -> None:
        self._cancelled = cancelled
        self._stopped = threading.Event()

    def stop(self) -> None:
        self._stopped.set()

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        halted = self._stopped.is_set() or self._cancelled()
        return torch.full((input_ids.shape[0],), halted, dtype=torch.bool)


class VisionLanguageRunner:
    """Answers conversations about images; see the module docstring."""

    def __init__(self) -> None:
        self._model: Any = None
        self._processor: Any = None
        self._device = "cpu"
        self._context: int | None = None
        self._max_new_tokens = DEFAULT_MAX_NEW_TOKENS
        self._lock = threading.Lock()

    def load(self, spec: ModelSpec, path: Path | None, device: str) -> None:
        if path is None:
            raise errors.ModelLoadFailed(
                f"Model '{spec.alias}' has no files: the transformers-vlm runner loads a model "
                "directory. Give the catalog entry a source."
            )
        options = spec.options.runner_options
        check_options(spec, "transformers-vlm", OPTIONS)
        import transformers

        quiet: Callable[[], None] = transformers.utils.logging.disable_progress_bar
        quiet()
        dtype: Any = spec.options.dtype if spec.options.dtype in DTYPES else None
        if dtype is None:
            dtype = "auto" if device.startswith("cuda") else "float32"
        processors: Any = transformers.AutoProcessor
        models: Any = transformers.AutoModelForImageTextToText
        try:
            self._processor = processors.from_pretrained(str(path), local_files_only=True)
            model = models.from_pretrained(str(path), local_files_only=True, dtype=dtype)
        except (OSError, ValueError, KeyError) as exc:
            raise errors.ModelLoadFailed(
                f"Model '{spec.alias}': {path} does not hold a transformers image-text-to-text "
                f"model with its processor ({exc})."
            ) from exc
        self._model = model.to(device).eval()
        self._device = device
        text_config = getattr(model.config, "text_config", model.config)
        self._context = getattr(text_config, "max_position_embeddings", None)
        self._max_new_tokens = int(options.get("max_new_tokens", DEFAULT_MAX_NEW_TOKENS))

    def run(self, batch: Sequence[Any]) -> list[Any]:
        outputs: list[Any] = []
        for item in batch:
            try:
                pieces = list(self._generate(item, lambda: False))
            except errors.BerthError as exc:
                outputs.append(exc)
                continue
            done = pieces[-1]
            assert isinstance(done, Generation)
            text = "".join(p.text for p in pieces if isinstance(p, TextDelta))
            outputs.append(dataclasses.replace(done, text=text))
        return outputs

    def stream(
        self, batch: Sequence[Any], cancelled: Cancelled = never_cancelled
    ) -> Iterator[tuple[int, Any]]:
        for index, item in enumerate(batch):
            if cancelled(index):
                continue
            try:
                for piece in self._generate(item, functools.partial(cancelled, index)):
                    yield index, piece
            except errors.BerthError as exc:
                yield index, exc

    def memory_bytes(self) -> int | None:
        return None

    def close(self) -> None:
        self._model = None
        self._processor = None

    def _inputs(self, request: GenerationRequest) -> Any:
        """The processor's tensors for a conversation, on the model's device."""
        if not request.is_chat:
            raise errors.InvalidRequest(
                "A vision model takes chat messages, not a plain prompt. Use /v1/chat/completions."
            )
        images = [decode_image(data) for message in request.messages for data in message.images]
        prompt = self._processor.apply_chat_template(
            hf_messages(request.messages), add_generation_prompt=True, tokenize=False
        )
        inputs = self._processor(
            text=[prompt], images=images or None, return_tensors="pt", padding=True
        )
        return inputs.to(self._device)

    def _limit(self, request: GenerationRequest, prompt_tokens: int) -> int:
        """How many tokens may be generated; ContextTooLong if the prompt leaves no room."""
        wanted = request.max_tokens or self._max_new_tokens
        if self._context is None:
            return wanted
        room = self._context - prompt_tokens
        if room < 1:
            raise errors.ContextTooLong(
                f"The prompt (images included) takes {prompt_tokens} tokens; the model reads "
                f"at most {self._context}. Send fewer or smaller images, or a shorter text."
            )
        return min(wanted, room)

    def _generate(
        self, request: Any, cancelled: Callable[[], bool]
    ) -> Iterator[TextDelta | Generation]:
        """The text pieces of one request, then its Generation (with empty text)."""
        if self._model is None:
            raise errors.ModelError("The transformers-vlm runner has no model loaded.")
        if not isinstance(request, GenerationRequest):
            raise errors.InvalidRequest(
                f"The transformers-vlm runner takes GenerationRequest items, not "
                f"{type(request).__name__}."
            )
        with self._lock:
            inputs = self._inputs(request)
            prompt_tokens = int(inputs["input_ids"].shape[1])
            limit = self._limit(request, prompt_tokens)
            yield from self._decode(request, inputs, prompt_tokens, limit, cancelled)

    def _decode(
        self,
        request: GenerationRequest,
        inputs: Any,
        prompt_tokens: int,
        limit: int,
        cancelled: Callable[[], bool],
    ) -> Iterator[TextDelta | Generation]:
        tokens = TokenQueue()
        halt = Halt(cancelled)
        worker = threading.Thread(
            target=self._run_generate, args=(request, inputs, limit, tokens, halt), daemon=True
        )
        worker.start()
        generated: list[int] = []
        sent, finish = "", "length"
        try:
            while (step := tokens.tokens.get()) is not _DONE:
                if isinstance(step, BaseException):
                    raise errors.ModelError(f"Generation failed: {step}") from step
                generated.extend(step)
                text = self._processor.decode(generated, skip_special_tokens=True)
                text, stopped = cut_at_stop(text, request.stop)
                end = len(text) if stopped else len(text) - held_back(text, request.stop)
                if end > len(sent) and text.startswith(sent):
                    yield TextDelta(text[len(sent) : end])
                    sent = text[:end]
                if stopped:
                    finish = "stop"
                    halt.stop()
            if not cut_at_stop(sent, request.stop)[1]:
                text = self._processor.decode(generated, skip_special_tokens=True)
                text = cut_at_stop(text, request.stop)[0]
                if len(text) > len(sent) and text.startswith(sent):
                    yield TextDelta(text[len(sent) :])
        finally:
            halt.stop()
            worker.join()
        if len(generated) < limit:
            finish = "stop"
        reason: FinishReason = "stop" if finish == "stop" else "length"
        yield Generation("", reason, prompt_tokens, len(generated))

    def _run_generate(
        self, request: GenerationRequest, inputs: Any, limit: int, tokens: TokenQueue, halt: Halt
    ) -> None:
        """``model.generate`` in the helper thread; its tokens (or its error) go to
        ``tokens``."""
        import torch
        import transformers

        try:
            if request.seed is not None:
                torch.manual_seed(request.seed)
            sampling: dict[str, Any] = {"do_sample": request.temperature > 0}
            if request.temperature > 0:
                sampling.update(temperature=request.temperature, top_p=request.top_p, top_k=0)
            with torch.inference_mode():
                self._model.generate(
                    **inputs,
                    max_new_tokens=limit,
                    streamer=tokens,
                    stopping_criteria=transformers.StoppingCriteriaList([halt]),
                    pad_token_id=self._pad_token_id(),
                    **sampling,
                )
        except Exception as exc:  # handed to the consumer, which raises it
            tokens.tokens.put(exc)
        finally:
            tokens.end()

    def _pad_token_id(self) -> int | None:
        tokenizer = getattr(self._processor, "tokenizer", self._processor)
        pad: int | None = tokenizer.pad_token_id
        return pad if pad is not None else tokenizer.eos_token_id
