"""What text-generation runners (chat and completions) take and give back.

The API builds a :class:`GenerationRequest` per request; the pool batches them to the model's
runner; ``run`` returns one :class:`Generation` per request and ``stream`` yields
:class:`TextDelta` pieces followed by one :class:`Generation` (with empty text) that carries
the finish reason and the token counts. Plain data, so it crosses process boundaries.

A request may carry tools (rendered into the prompt), a :data:`Grammar` that the output must
follow (constrained decoding), a number of ``logprobs`` alternatives to report and the LoRA
:class:`AdapterRef` to run with (set by the pool for a fine-tuned model); a runner
that cannot honour them says so in its :class:`~berth.runners.contract.RunnerType`
``features`` (see :meth:`GenerationRequest.needs`) and the service refuses the request before
it reaches the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from berth.tasks.task import ModelTask, Task

FinishReason = Literal["stop", "length"]
Feature = Literal["tools", "grammar", "logprobs", "prompt_logprobs", "adapters"]
"""What a request may need beyond plain text generation (see :meth:`GenerationRequest.needs`)."""


@dataclass(frozen=True)
class ToolCall:
    """A call of a function tool: its id, the function's name and its arguments (JSON text)."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class ToolSpec:
    """A function the model may call: its name, what it does, its parameters' JSON schema
    (as JSON text, so the request stays plain data)."""

    name: str
    description: str = ""
    parameters: str = '{"type": "object", "properties": {}}'


@dataclass(frozen=True)
class ChatMessage:
    role: str
    content: str
    images: tuple[bytes, ...] = ()
    """Encoded images (PNG, JPEG, ...) the message shows, before its text; for vision models."""
    tool_calls: tuple[ToolCall, ...] = ()
    """The calls an assistant message made."""
    tool_call_id: str | None = None
    """The call a ``tool`` message answers."""
    name: str | None = None
    """The tool whose result a ``tool`` message carries."""


@dataclass(frozen=True)
class JsonGrammar:
    """The whole output is one JSON value that matches ``schema`` (JSON Schema, as JSON
    text)."""

    schema: str


@dataclass(frozen=True)
class TaggedJsonGrammar:
    """Free text, in which the model may open ``begin``: from there up to ``end`` it writes
    JSON that matches ``schema``, then free text again. For tool calls the model may or may
    not make."""

    begin: str
    end: str
    schema: str
    once: bool = False
    """At most one tagged part (one call, when parallel calls are off)."""


Grammar = JsonGrammar | TaggedJsonGrammar
"""What the output of a constrained generation must follow."""
MAX_TOP_LOGPROBS = 20
TOOL_CALL_BEGIN = "<tool_call>"
TOOL_CALL_END = "</tool_call>"
"""How a model marks a call when it may choose between text and a call (``tool_choice``
"auto"): ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``, the form many chat
templates with a tools section teach, and the one Berth's own tool prompt asks for."""


@dataclass(frozen=True)
class AdapterRef:
    """A LoRA adapter to run a request with, over the base its model process holds: the
    catalog alias it is served as, its folder, and the sha256 its weights must have. The pool
    sets it from the catalog entry of a fine-tuned model, never from a caller's input."""

    name: str
    folder: str
    sha256: str = ""
    """Empty: not checked."""


@dataclass(frozen=True)
class GenerationRequest:
    """One prompt (completions) or one conversation (chat), with sampling settings."""

    prompt: str | None = None
    messages: tuple[ChatMessage, ...] = ()
    max_tokens: int | None = None
    temperature: float = 1.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int | None = None
    top_k: int = 0
    """Sample from the k likeliest tokens only (0: all); runners that cannot ignore it."""
    min_p: float = 0.0
    """Drop tokens less likely than this times the likeliest (0: none)."""
    repeat_penalty: float = 1.0
    """Divide the scores of recently made tokens by this (1: no penalty)."""
    tools: tuple[ToolSpec, ...] = ()
    """Tools to describe to the model in its prompt (through its chat template)."""
    grammar: Grammar | None = None
    """What the output must follow; None: free text."""
    logprobs: int | None = None
    """Report each generated token's log probability and this many most likely alternatives
    (0 to :data:`MAX_TOP_LOGPROBS`); None: no log probabilities."""
    echo: bool = False
    """With ``logprobs``, also score the prompt: each prompt token's log probability given
    the tokens before it (a completions request's ``echo``)."""
    adapter: AdapterRef | None = None
    """The LoRA adapter to run with (see :class:`AdapterRef`); None: the model as loaded."""

    @property
    def is_chat(self) -> bool:
        return self.prompt is None

    def needs(self) -> frozenset[Feature]:
        """The features a runner must have to answer this request."""
        wanted: set[Feature] = set()
        if self.tools or any(m.tool_calls or m.role == "tool" for m in self.messages):
            wanted.add("tools")
        if self.grammar is not None:
            wanted.add("grammar")
        if self.logprobs is not None:
            wanted.add("logprobs")
            if self.echo:
                wanted.add("prompt_logprobs")
        if self.adapter is not None:
            wanted.add("adapters")
        return frozenset(wanted)


@dataclass(frozen=True)
class TopLogprob:
    """One candidate token: its text, its bytes and its log probability."""

    token: str
    bytes: tuple[int, ...]
    logprob: float


@dataclass(frozen=True)
class TokenLogprob:
    """A generated token's log probability and the most likely alternatives at its step,
    from the distribution it was sampled from (after any grammar's mask)."""

    token: str
    bytes: tuple[int, ...]
    logprob: float
    top: tuple[TopLogprob, ...] = ()


@dataclass(frozen=True)
class TextDelta:
    """A piece of generated text, as it is made."""

    text: str
    logprobs: tuple[TokenLogprob, ...] = ()
    """The tokens made since the previous delta, with their log probabilities (if asked)."""


@dataclass(frozen=True)
class Generation:
    """A finished generation (in a stream: the last item, for its counts and finish reason;
    its text went out piece by piece before it and may be left empty here)."""

    text: str
    finish_reason: FinishReason
    prompt_tokens: int
    completion_tokens: int
    extra: dict[str, str] = field(default_factory=dict)
    logprobs: tuple[TokenLogprob, ...] | None = None
    """Every generated token's log probability, if the request asked for them."""
    prompt_logprobs: tuple[TokenLogprob, ...] | None = None
    """With ``echo``: every prompt token, each with its log probability given those before
    it; the first has none to be given (its ``logprob`` is 0 and the API shows null)."""


def cut_at_stop(text: str, stops: tuple[str, ...]) -> tuple[str, bool]:
    """``text`` up to the first stop sequence, and whether one was found."""
    cuts = [text.find(stop) for stop in stops if stop and stop in text]
    if not cuts:
        return text, False
    return text[: min(cuts)], True


GENERATE = ModelTask(
    "text", frozenset({Task.CHAT, Task.COMPLETE, Task.VISION}), Generation, (TextDelta, Generation)
)
