"""Constrained decoding with ``xgrammar``: a request's :data:`~berth.tasks.generate.Grammar`
compiled against the model's vocabulary, and one matcher per generation that says which
tokens may come next and follows the tokens chosen.

Each step, :func:`mask_rows` sets the scores of every token that the grammar forbids to
``-inf`` in the rows of the batch that have a matcher (the others are left as they are), so
sampling, greedy or not, can only pick an allowed token; the output then matches the grammar
whatever the model's weights. Once the grammar is complete only an end token is allowed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from berth import errors
from berth.tasks.generate import Grammar, JsonGrammar, TaggedJsonGrammar

PLAIN_CHARACTER = (
    "(?:"
    + "|".join(
        (
            r"[ !#-\[\]-~]",
            r"[\u00a0-\u07ff]",
            r"[\u0800-\u0fff]",
            r"[\u1000-\ucfff]",
            r"[\ud000-\ud7ff]",
            r"[\ue000-\ufffd]",
        )
    )
    + ")"
)
"""A character a JSON string holds as it is and that decodes to one character: no quote,
backslash, control character or surrogate. One class per range of UTF-8 lead bytes with the
same continuations: xgrammar 0.2.9 compiles a class across those bounds (and its
length-bounded strings) into byte sequences that include overlong and surrogate forms, which
decode to several replacement characters."""
MAX_WHITESPACE = 2
"""Whitespace characters allowed in a row inside tagged JSON (its JSON may be spaced, not
padded without end)."""


class Vocabulary:
    """A model's tokens for grammars and logprobs: each token's bytes, and a compiler of
    grammars against them (compiled grammars are cached by the compiler)."""

    def __init__(self, tokenizer: Any, vocab_size: int, stop_ids: Iterable[int]) -> None:
        import xgrammar

        stops = sorted(stop_ids)
        info = xgrammar.TokenizerInfo.from_huggingface(
            tokenizer, vocab_size=vocab_size, stop_token_ids=stops or None
        )
        banned = set(getattr(tokenizer, "all_special_ids", ())) - set(stops)
        self._start(info, vocab_size, banned)

    @classmethod
    def from_pieces(
        cls, pieces: Sequence[bytes], stop_ids: Iterable[int], control_ids: Iterable[int]
    ) -> Vocabulary:
        """A vocabulary from each token's bytes in id order (as a GGUF's tokens decode),
        its end tokens and its control tokens (never allowed, the ends aside)."""
        import xgrammar

        stops = sorted(stop_ids)
        info = xgrammar.TokenizerInfo(
            list(pieces),
            xgrammar.VocabType.RAW,
            vocab_size=len(pieces),
            stop_token_ids=stops or None,
        )
        vocabulary = cls.__new__(cls)
        vocabulary._start(info, len(pieces), set(control_ids) - set(stops))
        return vocabulary

    def _start(self, info: Any, vocab_size: int, banned: set[int]) -> None:
        import xgrammar

        self.info = info
        self.size = vocab_size
        self.tokens: list[bytes] = list(info.decoded_vocab)
        self.keep = _bits_without(banned, vocab_size)
        """A bitmask row that clears the special tokens other than the end: xgrammar reads
        them as their printed names (``<|pad|>`` is seven characters to it), but decoding
        drops them from the text."""
        self._compiler = xgrammar.GrammarCompiler(info, max_threads=1)

    def token_bytes(self, token: int) -> bytes:
        return self.tokens[token] if token < len(self.tokens) else b""

    def matcher(self, grammar: Grammar) -> Matcher:
        """A fresh matcher for one generation; InvalidRequest if ``grammar`` cannot compile."""
        import xgrammar

        try:
            compiled = self._compiled(grammar)
        except (RuntimeError, ValueError, TypeError) as exc:
            raise errors.InvalidRequest(
                f"The output's grammar cannot be compiled: {exc}. Simplify the JSON schema."
            ) from exc
        return Matcher(xgrammar.GrammarMatcher(compiled), self.keep)

    def _compiled(self, grammar: Grammar) -> Any:
        schema = bounded_strings(json.loads(grammar.schema))
        if isinstance(grammar, JsonGrammar):
            return self._compiler.compile_json_schema(json.dumps(schema), any_whitespace=False)
        assert isinstance(grammar, TaggedJsonGrammar)
        tag = {
            "begin": grammar.begin,
            "content": {
                "type": "json_schema",
                "json_schema": schema,
                "max_whitespace_cnt": MAX_WHITESPACE,
            },
            "end": grammar.end,
        }
        structure = {
            "type": "structural_tag",
            "format": {
                "type": "triggered_tags",
                "triggers": [grammar.begin],
                "tags": [tag],
                "stop_after_first": grammar.once,
            },
        }
        return self._compiler.compile_structural_tag(json.dumps(structure))


def bounded_strings(schema: Any) -> Any:
    """``schema`` with each string's ``minLength``/``maxLength`` (and no pattern of its own)
    written as a pattern of as many plain characters: xgrammar 0.2.9 lets raw control
    characters, which JSON forbids, into length-bounded strings, and not into patterns."""
    if isinstance(schema, list):
        return [bounded_strings(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    rewritten = {key: bounded_strings(value) for key, value in schema.items()}
    lengths = "minLength" in schema or "maxLength" in schema
    plain = not {"pattern", "format", "enum", "const"} & schema.keys()
    if schema.get("type") == "string" and lengths and plain:
        low = int(rewritten.pop("minLength", 0))
        high = rewritten.pop("maxLength", None)
        rewritten["pattern"] = f"^{PLAIN_CHARACTER}{{{low},{'' if high is None else int(high)}}}$"
    return rewritten


class Matcher:
    """One generation's place in its grammar."""

    def __init__(self, matcher: Any, keep: Any = None) -> None:
        self._matcher = matcher
        self.keep = keep
        """A bitmask row of the tokens that may ever come (None: all)."""

    def fill(self, bitmask: Any, row: int) -> None:
        """Write the tokens allowed next into ``bitmask``'s ``row``."""
        self._matcher.fill_next_token_bitmask(bitmask, row)
        if self.keep is not None:
            bitmask[row] &= self.keep

    def accept(self, token: int) -> bool:
        """Follow ``token``; True once the grammar is done (it took an end token)."""
        if not self._matcher.accept_token(token):
            raise errors.ModelError(
                f"Token {token} broke the output's grammar, which should have masked it."
            )
        return bool(self._matcher.is_terminated())


def mask_rows(scores: Any, matchers: Sequence[tuple[int, Matcher]]) -> None:
    """Set to -inf, in place, the scores of the tokens each row's grammar forbids next
    (``matchers``: ``(row, matcher)`` for the constrained rows only)."""
    if not matchers:
        return
    import xgrammar

    bitmask = xgrammar.allocate_token_bitmask(scores.shape[0], scores.shape[-1])
    for row, matcher in matchers:
        matcher.fill(bitmask, row)
    rows = [row for row, _ in matchers]
    xgrammar.apply_token_bitmask_inplace(scores, bitmask.to(scores.device), indices=rows)


def _bits_without(tokens: Iterable[int], vocab_size: int) -> Any:
    """A bitmask row (int32 words, as xgrammar packs them) with every token but ``tokens``."""
    import torch

    words = [0xFFFFFFFF] * ((vocab_size + 31) // 32)
    for token in tokens:
        words[token // 32] &= ~(1 << (token % 32)) & 0xFFFFFFFF
    signed = [word - (1 << 32) if word >= 1 << 31 else word for word in words]
    return torch.tensor(signed, dtype=torch.int32)
