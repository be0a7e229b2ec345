from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from berth.agents.guardrails import Bound, Guardrails, Verdict
from berth.agents.tool import JsonObject, Tool, ToolContext

pytestmark = pytest.mark.unit


async def nothing(arguments: JsonObject, ctx: ToolContext) -> Any:
    return None


TRANSFER = Tool("transfer", "move money", {"type": "object"}, call=nothing)
DELETE = Tool("delete_file", "delete", {"type": "object"}, call=nothing, destructive=True)


def test_a_bound_breaking_argument_is_refused() -> None:
    rails = Guardrails(bounds={"transfer": {"amount": Bound(min=0, max=100)}})
    assert rails.check(TRANSFER, {"amount": 50}).verdict is Verdict.ALLOW
    high = rails.check(TRANSFER, {"amount": 101})
    assert high.verdict is Verdict.REFUSE
    assert high.reason == "argument 'amount' of 'transfer' is 101, above its maximum 100"
    assert rails.check(TRANSFER, {"amount": -1}).verdict is Verdict.REFUSE


def test_forbidden_values_and_lengths_are_refused() -> None:
    rails = Guardrails(bounds={"transfer": {"to": Bound(forbidden=["mallory"], max_length=8)}})
    assert rails.check(TRANSFER, {"to": "mallory"}).reason.endswith("a forbidden value")
    assert "length 9" in rails.check(TRANSFER, {"to": "x" * 9}).reason
    assert rails.check(TRANSFER, {"to": "bob"}).verdict is Verdict.ALLOW


def test_a_tool_outside_the_allowlist_is_refused() -> None:
    rails = Guardrails(tools=["transfer"])
    refused = rails.check(DELETE, {})
    assert refused.verdict is Verdict.REFUSE and "allowlist (transfer)" in refused.reason


def test_a_destructive_tool_needs_approval_unless_switched_off() -> None:
    assert Guardrails().check(DELETE, {}).verdict is Verdict.APPROVE
    assert Guardrails(approve_destructive=False).check(DELETE, {}).verdict is Verdict.ALLOW


def test_bad_guardrails_are_refused_with_what_is_wrong() -> None:
    with pytest.raises(ValidationError, match=r"min \(5.0\) is above max \(1.0\)"):
        Bound(min=5, max=1)
    with pytest.raises(ValidationError, match="max_turns"):
        Guardrails(max_turns=0)
    with pytest.raises(ValidationError, match="Extra inputs"):
        Guardrails.model_validate({"tool": ["x"]})
