from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from berth import errors, hookspecs
from berth.hookspecs import Registry
from berth.jobs.context import JobContext
from berth.jobs.kind import JobKind
from berth.plugins import PluginRegistry, discover

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]


async def nothing(ctx: JobContext, data: Any) -> Any:
    return None


def test_builtin_kinds_register_through_entry_points() -> None:
    registry = discover()
    assert {"echo", "sleep", "fail"} <= registry.kinds.keys()
    assert registry.kinds["sleep"].input_schema()["properties"]["seconds"]["type"] == "number"


def test_two_plugins_cannot_claim_one_kind() -> None:
    registry = PluginRegistry()
    registry.add_kind(JobKind("x", nothing, "first"))
    with pytest.raises(errors.PluginError, match="'x'"):
        registry.add_kind(JobKind("x", nothing, "second"))


def test_a_failing_plugin_is_named() -> None:
    def broken(registry: Registry) -> None:
        raise RuntimeError("no GPU library")

    with pytest.raises(errors.PluginError, match=r"'acme \(acme:register\)'.*no GPU library"):
        PluginRegistry().register(broken, "acme (acme:register)")


def test_unknown_kind_lists_the_known_ones() -> None:
    known = (
        "agent, echo, embed, eval, eval-dataset, fail, fine-tune, generate, image, ocr, pull, "
        "sleep, speak, train, transcribe, vad, vector-ingest"
    )
    with pytest.raises(errors.UnknownKind, match=rf"'nope'\. Known kinds: {known}"):
        discover().kind("nope")


def test_every_hook_group_is_documented_and_declared() -> None:
    readme = (ROOT / "README.md").read_text()
    hook_doc = hookspecs.__doc__ or ""
    pyproject = (ROOT / "pyproject.toml").read_text()
    for group in hookspecs.ENTRY_POINT_GROUPS:
        assert f"`{group}`" in readme
        assert f"``{group}``" in hook_doc
    declared = re.findall(r'\[project\.entry-points\."([^"]+)"\]', pyproject)
    assert set(declared) <= set(hookspecs.ENTRY_POINT_GROUPS)
    assert declared
