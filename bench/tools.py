"""What Berth's tool registry costs per call, side by side with calling the tool directly.

Rows: an async no-op tool awaited directly vs through ``ToolRegistry.call`` (schema check,
breaker, timeout, retry bookkeeping); a blocking function called in-process vs through the
registry in a child process (``target=``, the isolation that lets a timeout kill it). Prints
a table, the ratios, and as its last line one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import time
from typing import Any

from berth.agents.registry import ToolRegistry
from berth.agents.tool import JsonObject, Tool, ToolContext

SCHEMA: JsonObject = {
    "type": "object",
    "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
    "required": ["a", "b"],
    "additionalProperties": False,
}


async def add(arguments: JsonObject, ctx: ToolContext) -> Any:
    return arguments["a"] + arguments["b"]


def blocking_add(a: int, b: int) -> int:
    return a + b


async def per_call(n: int, call: Any) -> float:
    started = time.perf_counter()
    for i in range(n):
        await call(i)
    return (time.perf_counter() - started) / n


async def measure(async_n: int, child_n: int) -> dict[str, float]:
    registry = ToolRegistry()
    registry.add(Tool("add", "Add.", SCHEMA, call=add))
    registry.add(Tool("child_add", "Add.", SCHEMA, target="bench.tools:blocking_add"))
    ctx = ToolContext()

    async def direct_async(i: int) -> Any:
        return await add({"a": i, "b": 1}, ctx)

    async def via_registry(i: int) -> Any:
        return await registry.call("add", {"a": i, "b": 1}, ctx)

    async def direct_blocking(i: int) -> Any:
        return blocking_add(i, 1)

    async def via_child(i: int) -> Any:
        return await registry.call("child_add", {"a": i, "b": 1}, ctx)

    return {
        "async_direct_s": await per_call(async_n, direct_async),
        "async_registry_s": await per_call(async_n, via_registry),
        "blocking_direct_s": await per_call(async_n, direct_blocking),
        "blocking_child_s": await per_call(child_n, via_child),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="async calls per row")
    parser.add_argument("--child-calls", type=int, default=20, help="child-process calls")
    args = parser.parse_args()
    load_before = os.getloadavg()
    got = asyncio.run(measure(args.calls, args.child_calls))
    print(f"{'row':<34}{'per call':>14}")
    for name, seconds in got.items():
        print(f"{name:<34}{seconds * 1e6:>11.1f} µs")
    ratios = {
        "registry_over_direct": got["async_registry_s"] / got["async_direct_s"],
        "child_over_direct": got["blocking_child_s"] / got["blocking_direct_s"],
    }
    overhead = got["async_registry_s"] - got["async_direct_s"]
    print(f"registry overhead per async call: {overhead * 1e6:.1f} µs")
    print(f"child process per blocking call: {got['blocking_child_s'] * 1e3:.1f} ms")
    print(f"machine: {platform.machine()} {os.cpu_count()} CPUs, load {load_before}")
    print(json.dumps({
        **got, **ratios, "calls": args.calls, "child_calls": args.child_calls,
        "machine": platform.platform(), "cpus": os.cpu_count(),
        "load_before": load_before, "load_after": os.getloadavg(),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
