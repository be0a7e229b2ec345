"""How a model's workers split a batch and share its threads (berth.pool.workers)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from berth.pool.workers import MIN_PART, Handoff, MathThreads, Whole, parts, resolve

pytestmark = pytest.mark.unit


def test_a_batch_is_cut_into_one_part_per_worker_none_under_the_minimum() -> None:
    assert parts(2 * MIN_PART + 1, 2) == [(0, MIN_PART + 1), (MIN_PART + 1, 2 * MIN_PART + 1)]
    assert parts(2 * MIN_PART - 1, 2) == [(0, 2 * MIN_PART - 1)]
    assert parts(1, 4) == [(0, 1)]
    assert parts(10 * MIN_PART, 3) == [(0, 27), (27, 54), (54, 80)]
    assert parts(64, 1) == [(0, 64)]


def test_a_whole_answers_once_in_order_after_its_last_part() -> None:
    answers: list[Any] = []
    whole = Whole(5, 2, answers.append)
    whole.finish(3, ["d", "e"])
    assert answers == []
    whole.finish(0, ["a", "b", "c"])
    assert answers == [["a", "b", "c", "d", "e"]]


def test_a_whole_with_a_failed_part_fails_once_all_parts_end() -> None:
    answers: list[Any] = []
    whole = Whole(4, 2, answers.append)
    error = ValueError("part failed")
    whole.finish(0, error)
    assert answers == []
    whole.finish(2, ["c", "d"])
    assert answers == [error]


def test_a_part_that_returns_too_many_outputs_fails_its_batch() -> None:
    answers: list[Any] = []
    Whole(2, 1, answers.append).finish(0, ["a", "b", "c"])
    [failure] = answers
    assert isinstance(failure, ValueError) and "overruns" in str(failure)


def test_math_threads_are_divided_between_the_parts_running_or_waiting() -> None:
    import torch

    before = torch.get_num_threads()
    threads = MathThreads(budget=4, workers=2, device="cpu")
    try:
        assert threads.enter(waiting=0) == 4  # alone
        assert threads.enter(waiting=0) == 2  # two running now
        assert torch.get_num_threads() == 2
        threads.leave()
        threads.leave()
        assert threads.enter(waiting=0, siblings=2) == 2  # its sibling is about to start
        threads.leave()
        assert threads.enter(waiting=0, lead=False) == 1  # only the lead has more than one
        assert torch.get_num_threads() == 1
        threads.leave()
        assert MathThreads(budget=4, workers=2, device="cuda:0").enter(waiting=0) == 0
    finally:
        torch.set_num_threads(before)


def _taker(handoff: Handoff[Any], name: str, got: list[tuple[str, Any]]) -> threading.Thread:
    thread = threading.Thread(target=lambda: got.append((name, handoff.get())), daemon=True)
    thread.start()
    return thread


def _until(check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 5
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


def test_a_part_goes_to_the_worker_that_went_idle_last() -> None:
    handoff, got = Handoff(limit=2), []
    first = _taker(handoff, "first idle", got)
    _until(lambda: handoff.idle == 1)
    last = _taker(handoff, "last idle", got)
    _until(lambda: handoff.idle == 2)
    handoff.put("part")
    last.join(5)
    assert got == [("last idle", "part")]
    handoff.put(None)
    first.join(5)
    assert got[-1] == ("first idle", None)


def test_a_part_goes_to_the_lead_whenever_it_is_idle() -> None:
    handoff: Handoff[str | None] = Handoff(limit=2)
    got: list[tuple[str, Any]] = []
    lead = threading.Thread(target=lambda: got.append(("lead", handoff.get(lead=True))))
    lead.start()
    _until(lambda: handoff.idle == 1)
    other = _taker(handoff, "other", got)
    _until(lambda: handoff.idle == 2)  # the other went idle last, but the lead comes first
    handoff.put("part")
    lead.join(5)
    assert got == [("lead", "part")]
    handoff.put(None)
    other.join(5)
    assert got[-1] == ("other", None)


def test_a_worker_that_claimed_before_answering_gets_the_next_part() -> None:
    handoff: Handoff[str] = Handoff(limit=2)
    slot = handoff.claim(lead=True)  # the lead, still answering its last part
    other = handoff.claim()
    handoff.put("next")
    assert slot.wait() == "next"
    assert not other.event.is_set()
    handoff.put("after")
    assert other.wait() == "after"


def test_parts_wait_in_order_while_every_worker_is_busy_up_to_the_limit() -> None:
    handoff = Handoff(limit=2)
    handoff.put("a")
    handoff.put("b")
    blocked = threading.Thread(target=handoff.put, args=("c",), daemon=True)
    blocked.start()
    time.sleep(0.05)
    assert blocked.is_alive() and handoff.qsize() == 2  # no room: the preparer waits
    assert handoff.get() == "a"
    blocked.join(5)
    assert [handoff.get(), handoff.get()] == ["b", "c"]


def test_two_workers_by_default_only_where_each_part_gets_one_of_two_cpu_threads() -> None:
    assert resolve(None, concurrent=True, device="cpu", budget=2) == 2
    assert resolve(None, concurrent=True, device="cpu", budget=4) == 1
    assert resolve(None, concurrent=True, device="cuda:0", budget=2) == 1
    assert resolve(None, concurrent=False, device="cpu", budget=2) == 1
    assert resolve(3, concurrent=True, device="cpu", budget=2) == 3
