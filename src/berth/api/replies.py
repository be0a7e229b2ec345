"""A generation as OpenAI shows it: the assistant's message (content, or tool calls read back
out of the text by :class:`~berth.callreader.CallReader`), the finish reason, the
log probabilities, and, streaming, the deltas in the order OpenAI sends them.

An answer claims its calls (``finish_reason`` ``tool_calls``) only when they are whole. When
``max_tokens`` cuts a call (a forced one, an array of parallel ones not closed, or a tagged
one), the finish reason is ``length`` and the message has no ``tool_calls``: its content is the
text as it was cut, as for a ``json_schema`` output cut the same way (OpenAI, too, answers
``length``; Berth never shows a call with arguments that are not whole JSON). Streamed, the
cut call's deltas have gone out already; the last chunk's ``length`` says it is cut."""

from __future__ import annotations

from collections.abc import Sequence

from berth.api.schemas.openai import ChatMessageOut, Delta
from berth.api.schemas.tools import (
    ChoiceLogprobs,
    CompletionLogprobs,
    FunctionCall,
    FunctionDelta,
    TokenLogprobOut,
    ToolCallDelta,
    ToolCallOut,
    TopLogprobOut,
)
from berth.callreader import CallArguments, CallReader, CallStart, Content, Event
from berth.tasks.generate import Generation, TextDelta, TokenLogprob
from berth.tooluse import ToolPlan


def chat_logprobs(tokens: Sequence[TokenLogprob] | None) -> ChoiceLogprobs | None:
    """Chat's ``logprobs``: per token, its log probability and the likeliest alternatives."""
    if tokens is None:
        return None
    return ChoiceLogprobs(
        content=[
            TokenLogprobOut(
                token=token.token,
                logprob=token.logprob,
                bytes=list(token.bytes),
                top_logprobs=[
                    TopLogprobOut(token=top.token, logprob=top.logprob, bytes=list(top.bytes))
                    for top in token.top
                ],
            )
            for token in tokens
        ]
    )


def completion_logprobs(
    tokens: Sequence[TokenLogprob] | None, offset: int = 0, *, unscored: int = 0
) -> CompletionLogprobs | None:
    """Completions' ``logprobs``: parallel lists, each token's offset into the text; the
    first ``unscored`` tokens (an echoed prompt's first) show null."""
    if tokens is None:
        return None
    offsets = []
    for token in tokens:
        offsets.append(offset)
        offset += len(token.token)
    return CompletionLogprobs(
        tokens=[token.token for token in tokens],
        token_logprobs=[None if i < unscored else t.logprob for i, t in enumerate(tokens)],
        top_logprobs=[
            None if i < unscored else {top.token: top.logprob for top in t.top}
            for i, t in enumerate(tokens)
        ],
        text_offset=offsets,
    )


def echoed_logprobs(done: Generation) -> CompletionLogprobs | None:
    """An echoed completion's ``logprobs``: the prompt's tokens (the first null), then the
    completion's."""
    if done.prompt_logprobs is None or done.logprobs is None:
        return None
    return completion_logprobs([*done.prompt_logprobs, *done.logprobs], unscored=1)


def chat_reply(plan: ToolPlan, done: Generation) -> tuple[ChatMessageOut, str]:
    """The assistant's message and the finish reason: its calls if it made any and they are
    whole, else its text (see the module doc)."""
    reader = CallReader(plan.reading, plan.parallel)
    reader.feed(done.text)
    reader.finish()
    calls = reader.tool_calls()
    if calls and reader.whole():
        out = [
            ToolCallOut(id=call.id, function=FunctionCall(name=call.name, arguments=call.arguments))
            for call in calls
        ]
        return ChatMessageOut(content=reader.content or None, tool_calls=out), "tool_calls"
    return ChatMessageOut(content=done.text), done.finish_reason


class ChatDeltas:
    """One streamed chat answer's deltas, as its text comes (see the module doc)."""

    def __init__(self, plan: ToolPlan) -> None:
        self._reader = CallReader(plan.reading, plan.parallel)

    def text(self, piece: TextDelta) -> list[tuple[Delta, ChoiceLogprobs | None]]:
        """The deltas for a piece of text; its tokens' logprobs go with the first."""
        deltas = [delta(event) for event in self._reader.feed(piece.text)]
        logprobs = chat_logprobs(piece.logprobs) if piece.logprobs else None
        if logprobs is not None and not deltas:
            deltas = [Delta(content="")]
        return [(d, logprobs if i == 0 else None) for i, d in enumerate(deltas)]

    def finish(self, done: Generation) -> tuple[list[Delta], str]:
        """The last deltas and the finish reason."""
        deltas = [delta(event) for event in self._reader.finish()]
        called = self._reader.tool_calls() and self._reader.whole()
        return deltas, "tool_calls" if called else done.finish_reason


def delta(event: Event) -> Delta:
    if isinstance(event, Content):
        return Delta(content=event.text)
    if isinstance(event, CallStart):
        call = ToolCallDelta(
            index=event.index,
            id=event.id,
            type="function",
            function=FunctionDelta(name=event.name, arguments=""),
        )
        return Delta(tool_calls=[call])
    assert isinstance(event, CallArguments)
    piece = ToolCallDelta(index=event.index, function=FunctionDelta(arguments=event.text))
    return Delta(tool_calls=[piece])
