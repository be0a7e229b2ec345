"""Each grader family on real samples, its criterion checked the way an eval's create checks
it; the model graders ask the echo model (it answers the last user message back), so what a
judge says is known in advance."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import jiwer
import pytest
import sacrebleu
from rapidfuzz import fuzz

from berth import errors
from berth.evals.graders import criteria_of, criterion_of
from berth.evals.template import TemplateError, check, render
from berth.tasks.calls import ModelCalls
from tests.pools import job_calls, make_pool, spec

pytestmark = pytest.mark.unit
OUT = "{{sample.output_text}}"


def scope(output: str, **item: Any) -> dict[str, Any]:
    return {"item": item, "sample": {"output_text": output, "latency_ms": 120.0}}


async def grade(data: dict[str, Any], sample: dict[str, Any], models: Any = None) -> Any:
    return (
        await criterion_of({"name": "c", **data}, "testing_criteria[0]").build(models).grade(sample)
    )


@pytest.fixture
async def models() -> AsyncIterator[ModelCalls]:
    pool = make_pool([spec("judge", task="chat"), spec("embedder", task="embed")])
    async with pool:
        yield job_calls(pool)


def test_templates_fill_nested_references_and_refuse_missing_ones() -> None:
    sample = {"item": {"q": {"text": "2+2"}, "tags": ["a", "b"]}, "sample": {"output_text": "4"}}
    assert render("Q: {{ item.q.text }} A: {{sample.output_text}} {{item.tags.1}}", sample) == (
        "Q: 2+2 A: 4 b"
    )
    assert render("{{item.q}}", sample) == '{"text": "2+2"}'
    with pytest.raises(TemplateError, match=r"item.answer.*'answer'"):
        render("{{item.answer}}", sample)
    with pytest.raises(errors.InvalidRequest, match="names no field of the item schema"):
        check("{{item.answr}}", "testing_criteria[0].reference", frozenset({"answer"}))
    with pytest.raises(errors.InvalidRequest, match="not a reference Berth can fill"):
        check("{{output}}", "testing_criteria[0].input")


@pytest.mark.parametrize(
    ("operation", "output", "expected"),
    [("eq", "Paris", True), ("eq", "paris", False), ("ne", "Rome", True),
     ("like", "It is Paris.", True), ("like", "it is paris", False),
     ("ilike", "it is PARIS", True), ("ilike", "Rome", False)],
)  # fmt: skip
async def test_string_check_operations(operation: str, output: str, expected: bool) -> None:
    data = {"type": "string_check", "input": OUT, "reference": "{{item.a}}", "operation": operation}
    found = await grade(data, scope(output, a="Paris"))
    assert (found.passed, found.score) == (expected, float(expected))


@pytest.mark.parametrize("metric", ["fuzzy_match", "bleu", "gleu", "rouge_1", "rouge_2", "rouge_l"])
async def test_text_similarity_scores_come_from_the_metric_libraries(metric: str) -> None:
    text, reference = "the cat sat on a mat", "the cat sat on the mat"
    data = {"type": "text_similarity", "input": OUT, "reference": "{{item.a}}",
            "evaluation_metric": metric, "pass_threshold": 0.5}  # fmt: skip
    found = await grade(data, scope(text, a=reference))
    assert 0.3 < found.score < 1.0 and found.passed is (found.score >= 0.5)
    perfect = await grade(data, scope(reference, a=reference))
    assert perfect.score == pytest.approx(1.0) and perfect.passed
    if metric == "fuzzy_match":
        assert found.score == pytest.approx(fuzz.ratio(text, reference) / 100)
    if metric == "bleu":
        assert found.score == pytest.approx(sacrebleu.sentence_bleu(text, [reference]).score / 100)


async def test_json_schema_regex_error_rate_and_latency() -> None:
    schema = {"type": "object", "required": ["x"], "properties": {"x": {"type": "integer"}}}
    data = {"type": "json_schema", "schema": schema}
    assert (await grade(data, scope('{"x": 3}'))).passed
    bad = await grade(data, scope('{"x": "three"}'))
    assert not bad.passed and "x: 'three' is not of type 'integer'" in bad.detail["problem"]
    assert "not JSON" in (await grade(data, scope("{x"))).detail["problem"]
    assert (await grade({"type": "json_schema"}, scope("[1, 2]"))).passed
    regex = {"type": "regex", "pattern": r"^\d+ apples$", "flags": "i", "full_match": True}
    assert (await grade(regex, scope("12 APPLES"))).passed
    assert not (await grade(regex, scope("about 12 apples"))).passed
    wer = {"type": "error_rate", "reference": "{{item.t}}", "metric": "wer", "max_error": 0.25}
    said = scope("the cat sat on mat", t="the cat sat on the mat")
    found = await grade(wer, said)
    assert found.score == pytest.approx(jiwer.wer("the cat sat on the mat", "the cat sat on mat"))
    assert found.passed
    cer = await grade({**wer, "metric": "cer", "max_error": 0.01}, said)
    assert cer.score == pytest.approx(jiwer.cer("the cat sat on the mat", "the cat sat on mat"))
    assert not cer.passed
    assert (await grade({"type": "latency", "max_ms": 200}, scope("x"))).passed
    assert not (await grade({"type": "latency", "max_ms": 100}, scope("x"))).passed


async def test_label_and_score_judges_answer_through_the_model(models: ModelCalls) -> None:
    parts = [{"type": "input_text", "text": OUT}]
    label = {"type": "label_model", "model": "judge", "labels": ["correct", "wrong"],
             "passing_labels": ["correct"],
             "input": [{"role": "system", "content": "Grade it."},
                       {"role": "user", "content": parts}]}  # fmt: skip
    good = await grade(label, scope("Correct"), models)
    assert good.passed and good.detail["label"] == "correct"
    bad = await grade(label, scope("this is wrong, not correct"), models)
    assert not bad.passed and bad.detail["label"] == "wrong"
    none = await grade(label, scope("no idea"), models)
    assert not none.passed and none.detail["label"] is None
    score = {"type": "score_model", "model": "judge", "range": [0, 10], "pass_threshold": 7,
             "input": [{"role": "user", "content": "Score: {{sample.output_text}}"}]}  # fmt: skip
    assert (await grade(score, scope("8.5"), models)).score == 8.5
    assert not (await grade(score, scope("3"), models)).passed
    assert (await grade(score, scope("42"), models)).detail["problem"] == "no score in [0, 10]"


async def test_embedding_similarity_is_the_cosine_of_the_catalog_models_vectors(
    models: ModelCalls,
) -> None:
    data = {"type": "embedding_similarity", "model": "embedder", "reference": "{{item.a}}",
            "pass_threshold": 0.99}  # fmt: skip
    same = await grade(data, scope("harbour", a="harbour"), models)
    assert same.score == pytest.approx(1.0, abs=1e-5) and same.passed
    other = await grade(data, scope("harbour", a="weather"), models)
    assert other.score < 0.99 and not other.passed


@pytest.mark.parametrize(
    ("criteria", "message"),
    [([], "testing_criteria: give a non-empty list"),
     ([{"type": "python", "name": "p"}], "testing_criteria[0].type: 'python' is not a grader"),
     ([{"type": "string_check", "name": "a", "input": OUT, "reference": "x", "operation": "is"}],
      "testing_criteria[0].operation: Input should be 'eq', 'ne', 'like' or 'ilike'"),
     ([{"type": "text_similarity", "name": "a", "input": OUT, "reference": "x",
        "evaluation_metric": "meteor", "pass_threshold": 0.5}],
      "testing_criteria[0].evaluation_metric: meteor needs WordNet"),
     ([{"type": "regex", "name": "a", "pattern": "("}],
      "testing_criteria[0].pattern: not a regular expression"),
     ([{"type": "label_model", "name": "a", "model": "m", "labels": ["x"],
        "passing_labels": ["y"], "input": [{"role": "user", "content": "hi"}]}],
      r"testing_criteria\[0\]: passing_labels \['y'\] are not among labels"),
     ([{"type": "latency", "name": "a", "max_ms": 5}, {"type": "latency", "name": "a",
       "max_ms": 6}], "the names \\['a'\\] are used twice")],
)  # fmt: skip
def test_bad_criteria_are_refused_naming_the_criterion_and_field(
    criteria: list[Any], message: str
) -> None:
    with pytest.raises(errors.InvalidRequest, match=message.replace("[0]", r"\[0\]")):
        criteria_of(criteria)
