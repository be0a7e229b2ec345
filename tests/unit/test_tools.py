from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from berth import errors
from berth.agents.breaker import BreakerState
from berth.agents.registry import ToolRegistry
from berth.agents.tool import BreakerPolicy, JsonObject, RetryPolicy, Tool, ToolContext
from berth.clock import ManualClock
from berth.plugins import discover

pytestmark = pytest.mark.unit
CTX = ToolContext()
NUMBER_SCHEMA: JsonObject = {
    "type": "object",
    "properties": {"n": {"type": "integer", "minimum": 0}},
    "required": ["n"],
    "additionalProperties": False,
}


class Counter:
    def __init__(self, fail_first: int = 0, retryable: bool = True) -> None:
        self.calls = 0
        self.fail_first = fail_first
        self.retryable = retryable

    async def __call__(self, arguments: JsonObject, ctx: ToolContext) -> Any:
        self.calls += 1
        if self.calls <= self.fail_first:
            raise errors.ToolFailed("down", retryable=self.retryable)
        return {"n": arguments["n"], "call": self.calls}


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def make(tool: Tool, clock: ManualClock | None = None) -> tuple[ToolRegistry, Sleeps]:
    sleeps = Sleeps()
    registry = ToolRegistry(clock=clock, sleep=sleeps)
    registry.add(tool)
    return registry, sleeps


async def test_bad_arguments_are_refused_before_the_tool_runs() -> None:
    counter = Counter()
    registry, _ = make(Tool("count", "c", NUMBER_SCHEMA, call=counter))
    for bad in ({"n": -1}, {"n": "3"}, {}, {"n": 1, "extra": True}, ["n"]):
        with pytest.raises(errors.ToolInputInvalid, match="count"):
            await registry.call("count", bad, CTX)
    assert counter.calls == 0
    done = await registry.call("count", {"n": 2}, CTX)
    assert (done.result, done.attempts, counter.calls) == ({"n": 2, "call": 1}, 1, 1)


async def test_the_message_names_the_argument_that_is_wrong() -> None:
    registry, _ = make(Tool("count", "c", NUMBER_SCHEMA, call=Counter()))
    with pytest.raises(errors.ToolInputInvalid, match=r"at n: -1 is less than the minimum"):
        await registry.call("count", {"n": -1}, CTX)


async def test_the_timeout_cancels_a_sleeping_async_tool() -> None:
    finished: list[bool] = []
    cancelled: list[bool] = []

    async def sleeper(arguments: JsonObject, ctx: ToolContext) -> Any:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise
        finished.append(True)

    registry, _ = make(Tool("nap", "n", {"type": "object"}, call=sleeper, timeout_s=0.2))
    started = time.monotonic()
    with pytest.raises(errors.ToolTimeout, match=r"0\.2 s and was stopped"):
        await registry.call("nap", {}, CTX)
    assert time.monotonic() - started < 5
    assert cancelled == [True] and finished == []


async def test_the_timeout_kills_a_blocking_tool_in_its_child_process(tmp_path: Path) -> None:
    mark = tmp_path / "mark"
    tool = Tool(
        "block",
        "b",
        {"type": "object"},
        target="tests.agenttools.blocking:sleep_then_mark",
        timeout_s=2.0,
    )
    registry, _ = make(tool)
    started = time.monotonic()
    with pytest.raises(errors.ToolTimeout):
        await registry.call("block", {"seconds": 4, "mark": str(mark)}, CTX)
    assert time.monotonic() - started < 4
    await asyncio.sleep(3)
    assert not mark.exists(), "the blocked tool went on after its timeout"


async def test_a_blocking_tool_answers_from_its_child_process() -> None:
    tool = Tool("add", "a", {"type": "object"}, target="tests.agenttools.blocking:add")
    registry, _ = make(tool)
    assert (await registry.call("add", {"a": 2, "b": 3}, CTX)).result == 5


async def test_a_child_process_error_keeps_its_retryable_mark() -> None:
    tool = Tool(
        "flaky",
        "f",
        {"type": "object"},
        target="tests.agenttools.blocking:always_flaky",
        retry=RetryPolicy(attempts=2, base_s=0.01),
    )
    registry, sleeps = make(tool)
    with pytest.raises(errors.ToolFailed, match="the service is busy"):
        await registry.call("flaky", {}, CTX)
    assert sleeps.waits == [0.01]


async def test_retries_stop_at_the_bound_with_backoff() -> None:
    counter = Counter(fail_first=100)
    policy = RetryPolicy(attempts=4, base_s=0.5, factor=2.0, max_s=1.5)
    registry, sleeps = make(
        Tool("count", "c", NUMBER_SCHEMA, call=counter, retry=policy, breaker=BreakerPolicy(50))
    )
    with pytest.raises(errors.ToolFailed, match="down"):
        await registry.call("count", {"n": 1}, CTX)
    assert counter.calls == 4
    assert sleeps.waits == [0.5, 1.0, 1.5]


async def test_a_retry_that_succeeds_reports_its_attempts() -> None:
    counter = Counter(fail_first=2)
    registry, _ = make(Tool("count", "c", NUMBER_SCHEMA, call=counter))
    done = await registry.call("count", {"n": 1}, CTX)
    assert (done.attempts, counter.calls) == (3, 3)


async def test_errors_not_marked_retryable_are_not_retried() -> None:
    counter = Counter(fail_first=100, retryable=False)
    registry, sleeps = make(Tool("count", "c", NUMBER_SCHEMA, call=counter))
    with pytest.raises(errors.ToolFailed):
        await registry.call("count", {"n": 1}, CTX)
    assert counter.calls == 1 and sleeps.waits == []


async def test_a_timed_out_call_is_retried_only_when_the_tool_is_idempotent() -> None:
    calls: list[int] = []

    async def slow(arguments: JsonObject, ctx: ToolContext) -> Any:
        calls.append(1)
        await asyncio.sleep(10)

    for idempotent, expected in ((False, 1), (True, 3)):
        calls.clear()
        registry, _ = make(
            Tool("slow", "s", {"type": "object"}, call=slow, timeout_s=0.05, idempotent=idempotent)
        )
        with pytest.raises(errors.ToolTimeout):
            await registry.call("slow", {}, CTX)
        assert len(calls) == expected


async def test_the_breaker_opens_probes_and_closes_again() -> None:
    clock = ManualClock()
    counter = Counter(fail_first=3, retryable=False)
    policy = BreakerPolicy(failures=2, window_s=10, cooldown_s=30)
    registry, _ = make(Tool("count", "c", NUMBER_SCHEMA, call=counter, breaker=policy), clock)
    for _ in range(2):
        with pytest.raises(errors.ToolFailed):
            await registry.call("count", {"n": 1}, CTX)
    assert registry.breaker_states() == {"count": BreakerState.OPEN}
    with pytest.raises(errors.CircuitOpen, match="Try again in 30 s"):
        await registry.call("count", {"n": 1}, CTX)
    assert counter.calls == 2, "an open breaker let a call through"
    clock.advance(30)
    assert registry.breaker_states() == {"count": BreakerState.HALF_OPEN}
    with pytest.raises(errors.ToolFailed):
        await registry.call("count", {"n": 1}, CTX)
    assert registry.breaker_states() == {"count": BreakerState.OPEN}, "a failed probe reopens"
    clock.advance(30)
    done = await registry.call("count", {"n": 1}, CTX)
    assert done.result["call"] == 4
    assert registry.breaker_states() == {"count": BreakerState.CLOSED}


async def test_failures_outside_the_window_do_not_open_the_breaker() -> None:
    clock = ManualClock()
    counter = Counter(fail_first=100, retryable=False)
    policy = BreakerPolicy(failures=2, window_s=10, cooldown_s=30)
    registry, _ = make(Tool("count", "c", NUMBER_SCHEMA, call=counter, breaker=policy), clock)
    for _ in range(3):
        with pytest.raises(errors.ToolFailed):
            await registry.call("count", {"n": 1}, CTX)
        clock.advance(11)
    assert registry.breaker_states() == {"count": BreakerState.CLOSED}


def test_a_tool_with_a_wrong_schema_or_a_taken_name_is_refused() -> None:
    registry = ToolRegistry()
    with pytest.raises(errors.PluginError, match="not JSON Schema"):
        registry.add(Tool("bad", "b", {"type": "nonsense"}, call=Counter()))
    registry.add(Tool("count", "c", NUMBER_SCHEMA, call=Counter()))
    with pytest.raises(errors.PluginError, match="Two plugins register the tool 'count'"):
        registry.add(Tool("count", "c", NUMBER_SCHEMA, call=Counter()))
    with pytest.raises(errors.UnknownTool, match="Registered tools: count"):
        registry.get("nope")


def test_builtin_tools_register_through_the_tools_hook() -> None:
    tools = discover().tools
    names = {tool.name for tool in tools.tools()}
    assert {"http_fetch", "embed", "transcribe", "ocr", "image"} <= names
    assert tools.get("http_fetch").idempotent and not tools.get("image").idempotent


async def test_model_tools_call_models_through_the_context_models() -> None:
    import numpy as np

    from berth.tasks.embed import Embedded
    from berth.tasks.fake import FakeModelCalls
    from berth.tasks.ocr import OcrLine, OcrResult

    def embedded(item: Any) -> Embedded:
        return Embedded(np.array([0.5, 0.25], dtype=np.float32), len(item.text))

    def read(item: Any) -> OcrResult:
        box = ((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0))
        return OcrResult((OcrLine("HELLO", 0.9, box), OcrLine("WORLD", 0.8, box)), 4, 4)

    models = FakeModelCalls({"vec": embedded, "reader": read})
    tools = discover().tools
    ctx = ToolContext(models=models)
    done = await tools.call("embed", {"model": "vec", "text": "abc"}, ctx)
    assert done.result == {"embedding": [0.5, 0.25], "tokens": 3}
    png = "iVBORw0KGgo="
    done = await tools.call("ocr", {"model": "reader", "image": png}, ctx)
    assert done.result == {"text": "HELLO\nWORLD", "lines": 2}
    assert [alias for alias, _ in models.calls] == ["vec", "reader"]
    with pytest.raises(errors.ToolFailed, match="No model 'nope'"):
        await tools.call("embed", {"model": "nope", "text": "abc"}, ctx)
