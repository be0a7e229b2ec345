"""The agent loop: a model turn with tools, guardrails on each call, the calls, their results,
the next turn; every step recorded before it is acted on, so a resumed run replays what was
recorded (no model turn or finished tool call is made twice) and goes on from there.

A non-idempotent tool call that was recorded as started but has no result (the worker died
during it) is not made again: its result says it was interrupted. An idempotent one is.
"""

from __future__ import annotations

import json
import time
from typing import Any, Literal

from berth import errors
from berth.agents.guardrails import Verdict
from berth.agents.journal import Journal
from berth.agents.registry import ToolRegistry
from berth.agents.tool import Tool, ToolContext
from berth.agents.turns import AgentSpec, generate, opening, tool_specs
from berth.tasks.calls import ModelCalls
from berth.tasks.generate import ChatMessage, ToolCall

APPROVAL_POLL_S = 0.25
Stop = Literal["answered", "max_turns", "max_tokens"]


class AgentLoop:
    """One run of an agent over a journal; ``sleep`` waits and raises when the run is
    cancelled (the kill switch)."""

    def __init__(
        self,
        spec: AgentSpec,
        journal: Journal,
        tools: ToolRegistry,
        models: ModelCalls,
        tool_ctx: ToolContext,
        sleep: Any,
    ) -> None:
        self.spec = spec
        self.journal = journal
        self.registry = tools
        self.models = models
        self.tool_ctx = tool_ctx
        self.sleep = sleep
        self.tools: list[Tool] = tools.tools(spec.tools)
        self.specs = tool_specs(self.tools)
        self.tokens = 0

    async def run(self) -> dict[str, Any]:
        """Turns until the model answers without calls or a budget is spent."""
        if self.journal.get("start", "") is None:
            await self.journal.record("start", self.spec.record(self.specs))
        messages = opening(self.spec)
        rails = self.spec.guardrails
        for turn in range(rails.max_turns):
            await self.sleep(0)
            out = await self._turn(turn, messages)
            calls = [ToolCall(c["id"], c["name"], c["arguments"]) for c in out["calls"]]
            messages.append(ChatMessage("assistant", out["content"], tool_calls=tuple(calls)))
            if not calls:
                return await self._finish("answered", out["content"], turn + 1)
            for call in calls:
                result = await self._call(turn, call)
                messages.append(
                    ChatMessage("tool", json.dumps(result), tool_call_id=call.id, name=call.name)
                )
            if self.tokens >= rails.max_tokens:
                return await self._finish("max_tokens", out["content"], turn + 1)
        return await self._finish("max_turns", "", rails.max_turns)

    async def _finish(self, stop: Stop, content: str, turns: int) -> dict[str, Any]:
        done = self.journal.get("final", "")
        if done is None:
            data = {"stop": stop, "output": content, "turns": turns, "tokens": self.tokens}
            done = await self.journal.record("final", data)
        return done.data

    async def _turn(self, turn: int, messages: list[ChatMessage]) -> dict[str, Any]:
        recorded = self.journal.get("model_turn", turn)
        if recorded is None:
            recorded = await self.journal.record("model_turn", await self._generate(turn, messages))
        self.tokens += int(recorded.data["tokens"])
        return recorded.data

    async def _generate(self, turn: int, messages: list[ChatMessage]) -> dict[str, Any]:
        return await generate(self.models, self.spec, self.specs, messages, turn, self.tokens)

    async def _call(self, turn: int, call: ToolCall) -> Any:
        done = self.journal.get("tool_result", call.id)
        if done is not None:
            return done.data["output"]
        refusal = await self._guard(turn, call)
        if refusal is not None:
            return await self._result(call, {"error": refusal}, refused=True)
        started = self.journal.get("tool_call", call.id)
        tool = self.registry.get(call.name)
        if started is not None and not tool.idempotent:
            message = (
                f"The call of '{call.name}' was interrupted (the worker stopped during it). "
                "It may have had its effect, and it is not idempotent, so Berth does not make "
                "it again."
            )
            return await self._result(call, {"error": message}, interrupted=True)
        arguments = json.loads(call.arguments or "{}")
        if started is None:
            await self.journal.record(
                "tool_call", {"call_id": call.id, "tool": call.name, "arguments": arguments}
            )
        return await self._execute(call, arguments)

    async def _execute(self, call: ToolCall, arguments: Any) -> Any:
        began = time.monotonic()
        try:
            done = await self.registry.call(call.name, arguments, self.tool_ctx)
        except errors.ToolError as exc:
            seconds = time.monotonic() - began
            return await self._result(call, {"error": exc.message}, seconds=seconds)
        return await self._result(call, done.result, seconds=done.seconds, attempts=done.attempts)

    async def _result(self, call: ToolCall, output: Any, **facts: Any) -> Any:
        data = {"call_id": call.id, "tool": call.name, "output": output, **facts}
        if "seconds" in data:
            data["seconds"] = round(float(data["seconds"]), 4)
        await self.journal.record("tool_result", data)
        return output

    async def _guard(self, turn: int, call: ToolCall) -> str | None:
        """None if the call may run (approved where it must be), else why not."""
        decided = self.journal.get("guardrail", call.id)
        if decided is None:
            decided = await self.journal.record("guardrail", self._judge(turn, call))
        verdict = Verdict(decided.data["verdict"])
        if verdict is Verdict.REFUSE:
            return f"Refused by a guardrail: {decided.data['reason']}."
        if verdict is Verdict.APPROVE:
            return await self._approval(call)
        return None

    def _judge(self, turn: int, call: ToolCall) -> dict[str, Any]:
        base = {"call_id": call.id, "tool": call.name, "turn": turn}
        if call.name not in self.spec.tools:
            reason = f"the tool '{call.name}' is not one this agent was given"
            return {**base, "verdict": Verdict.REFUSE.value, "reason": reason}
        try:
            arguments = self.registry.validate(call.name, json.loads(call.arguments or "{}"))
        except (errors.ToolInputInvalid, json.JSONDecodeError) as exc:
            reason = getattr(exc, "message", str(exc))
            return {**base, "verdict": Verdict.REFUSE.value, "reason": reason}
        decision = self.spec.guardrails.check(self.registry.get(call.name), arguments)
        return {**base, "verdict": decision.verdict.value, "reason": decision.reason}

    async def _approval(self, call: ToolCall) -> str | None:
        if self.journal.get("approval_wait", call.id) is None:
            await self.journal.record("approval_wait", {"call_id": call.id, "tool": call.name})
        while (decided := self.journal.get("approval", call.id)) is None:
            await self.sleep(APPROVAL_POLL_S)
            await self.journal.newer()
        if decided.data.get("approved"):
            return None
        why = decided.data.get("reason") or "no reason given"
        return f"Denied by {decided.data.get('by') or 'an operator'}: {why}."
