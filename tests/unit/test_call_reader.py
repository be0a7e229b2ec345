"""Reading tool calls back out of generated text: whole, and piece by piece in any split."""

from __future__ import annotations

import json

import pytest

from berth.callreader import CallArguments, CallReader, CallStart, Content

pytestmark = pytest.mark.unit
ONE = '{"name": "get_time", "arguments": {"zone": "UTC", "note": "a } or ] \\" inside"}}'
TWO = f'[{ONE}, {{"name":"get_weather","arguments":{{"city":"Oslo"}}}}]'
TAGGED = f"Let me check. <tool_call>{ONE}</tool_call> and <tool_call>{ONE}</tool_call>"


def read(reading: str, text: str, size: int, parallel: bool = True) -> CallReader:
    reader = CallReader(reading, parallel)  # type: ignore[arg-type]
    for start in range(0, len(text), size):
        reader.feed(text[start : start + size])
    reader.finish()
    return reader


@pytest.mark.parametrize("size", [1, 2, 3, 7, 1000])
def test_calls_read_the_same_in_any_split(size: int) -> None:
    reader = read("calls", TWO, size)
    calls = reader.tool_calls()
    assert [call.name for call in calls] == ["get_time", "get_weather"]
    assert json.loads(calls[0].arguments) == {"zone": "UTC", "note": 'a } or ] " inside'}
    assert calls[1].arguments == '{"city":"Oslo"}'
    assert reader.complete() and reader.content == ""
    assert len({call.id for call in calls}) == 2 and calls[0].id.startswith("call_")


@pytest.mark.parametrize("size", [1, 4, 1000])
def test_tagged_calls_and_the_text_around_them(size: int) -> None:
    reader = read("tagged", TAGGED, size)
    assert reader.content == "Let me check.  and "
    assert [call.name for call in reader.tool_calls()] == ["get_time", "get_time"]
    only = read("tagged", TAGGED, size, parallel=False)
    assert len(only.tool_calls()) == 1


def test_events_come_in_stream_order() -> None:
    reader = CallReader("tagged")
    events = [
        event
        for piece in ("Hi <tool", "_call>", ONE[:30], ONE[30:])
        for event in reader.feed(piece)
    ]
    assert isinstance(events[0], Content) and events[0].text == "Hi "
    assert isinstance(events[1], CallStart) and events[1].name == "get_time"
    assert all(isinstance(event, CallArguments) for event in events[2:])
    assert "".join(e.text for e in events[2:] if isinstance(e, CallArguments)) == json.dumps(
        json.loads(ONE)["arguments"]
    ).replace('"UTC", "note"', '"UTC", "note"')


def test_text_that_only_looks_like_a_tag_is_content() -> None:
    reader = read("tagged", "a <tool b", 1)
    assert reader.content == "a <tool b" and not reader.tool_calls()


def test_a_cut_off_call_is_not_complete() -> None:
    reader = read("calls", ONE[:40], 5)
    assert reader.tool_calls() and not reader.complete()


@pytest.mark.parametrize("size", [1, 6, 1000])
def test_only_an_output_its_grammar_closed_is_whole(size: int) -> None:
    assert read("calls", TWO, size).whole() and read("calls", ONE, size).whole()
    assert read("tagged", TAGGED, size).whole()
    cut_call = read("calls", ONE[:40], size)
    assert cut_call.tool_calls() and not cut_call.whole()
    first_of_two = TWO[: TWO.index(', {"name":"get_weather"')]
    cut_array = read("calls", first_of_two, size)
    assert cut_array.complete() and len(cut_array.tool_calls()) == 1
    assert not cut_array.whole(), "an array of calls that never closed reads as whole"
    open_tag = read("tagged", f"Let me check. <tool_call>{ONE}", size)
    assert open_tag.complete() and not open_tag.whole()
