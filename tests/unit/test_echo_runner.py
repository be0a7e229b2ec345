"""The echo runner: what it gives back for each kind of input."""

from __future__ import annotations

import numpy as np
import pytest

from berth import errors
from berth.runners.echo import EchoRunner
from berth.tasks.embed import Embedded, EmbedInput
from berth.tasks.generate import ChatMessage, Generation, GenerationRequest, TextDelta
from tests.pools import spec

pytestmark = pytest.mark.unit


def loaded(**options: object) -> EchoRunner:
    runner = EchoRunner()
    runner.load(spec("m", runner_options=options), None, "cpu")
    return runner


def test_it_returns_its_inputs() -> None:
    assert loaded().run(["a", {"text": "b"}, 3]) == ["a", {"text": "b"}, 3]


def test_vectors_are_unit_length_and_depend_only_on_the_text() -> None:
    first, again, other = loaded(dimensions=16).run(["same", {"text": "same"}, "other"])
    assert first.dtype == np.float32 and first.shape == (16,)
    assert np.isclose(np.linalg.norm(first), 1.0)
    assert np.array_equal(first, again) and not np.array_equal(first, other)


def test_api_inputs_get_api_outputs() -> None:
    embedded, generated = loaded().run(
        [
            EmbedInput(tokens=(7, 8, 9)),
            GenerationRequest(messages=(ChatMessage("user", "say this back"),)),
        ]
    )
    assert isinstance(embedded, Embedded) and embedded.tokens == 3
    assert embedded.vector.shape == (8,)
    assert generated == Generation("say this back", "stop", 3, 3)


def test_it_streams_word_by_word() -> None:
    runner = loaded()
    assert list(runner.stream(["one two", "three"])) == [(0, "one"), (0, "two"), (1, "three")]
    chunks = list(runner.stream([GenerationRequest(prompt="hi there")]))
    assert chunks == [
        (0, TextDelta("hi")),
        (0, TextDelta(" there")),
        (0, Generation("", "stop", 2, 2)),
    ]


def test_it_fails_on_request_and_reports_the_memory_it_is_told() -> None:
    runner = loaded(fail_on="boom", memory_bytes=123)
    assert runner.memory_bytes() == 123
    with pytest.raises(ValueError, match="told to fail on 'boom'"):
        runner.run(["fine", "boom"])


def test_unknown_options_and_inputs_are_named() -> None:
    with pytest.raises(errors.ModelLoadFailed, match="no option\\(s\\) colour"):
        loaded(colour="red")
    with pytest.raises(errors.InvalidRequest, match="not int"):
        loaded(dimensions=4).run([5])
