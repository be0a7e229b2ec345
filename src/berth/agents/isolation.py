"""Running a blocking tool in a child process that its timeout kills."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from typing import Any

from berth import errors


async def run_in_child(target: str, arguments: dict[str, Any], timeout_s: float) -> Any:
    """Call ``target`` (``"module:function"``) with ``arguments`` in a fresh Python process;
    past ``timeout_s`` the process is killed and ToolTimeout raised."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "berth.agents.child",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    request = json.dumps({"target": target, "arguments": arguments}).encode()
    try:
        out, err = await asyncio.wait_for(process.communicate(request), timeout_s)
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        raise
    return _answer(target, out, err, process.returncode)


def _answer(target: str, out: bytes, err: bytes, code: int | None) -> Any:
    try:
        answer = json.loads(out.decode().strip().splitlines()[-1])
    except (ValueError, IndexError) as exc:
        tail = err.decode(errors="replace").strip()[-400:]
        raise errors.ToolFailed(
            f"The tool process for '{target}' exited with code {code} without an answer: "
            f"{tail or 'no output'}. Check that the function can be imported and returns "
            "JSON-able data.",
            retryable=False,
        ) from exc
    if "error" in answer:
        raise errors.ToolFailed(str(answer["error"]), retryable=bool(answer.get("retryable")))
    return answer["result"]
