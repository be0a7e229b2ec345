"""The README's plugin example, executed: it registers, submits, runs and reaches a model."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

from berth.app import Berth
from berth.jobs.job import JobStatus
from berth.kinds import builtin
from berth.plugins import PluginRegistry, discover
from berth.settings import Settings

pytestmark = pytest.mark.integration
README = Path(__file__).resolve().parents[2] / "README.md"


def plugin_example() -> ModuleType:
    """The example as a module of its own (pydantic resolves its annotations there)."""
    section = README.read_text().split("## Plugins", 1)[1]
    block = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert block is not None, "the Plugins section has no python block"
    module = ModuleType("readme_plugin")
    sys.modules[module.__name__] = module
    exec(compile(block.group(1), "README.md", "exec"), module.__dict__)
    return module


async def test_the_plugin_example_runs_a_job_that_calls_a_model(tmp_path: Path) -> None:
    registry = PluginRegistry()
    builtin.register(registry)
    registry.runners.update(discover().runners)
    plugin_example().register(registry)
    settings = Settings(home=tmp_path, database_url="memory://", poll_seconds=0.05)
    async with Berth(settings, registry=registry) as berth, berth.dispatcher():
        jobs = berth.services.jobs
        submitted = await jobs.submit(None, "index", {"texts": ["a", "b"]}, model="echo")
        async with asyncio.timeout(60):
            job = await jobs.follow(None, submitted.job.id, poll_seconds=0.05)
        assert job.status is JobStatus.SUCCEEDED, job.error
        assert job.result == {"dimensions": 8}
        with pytest.raises(Exception, match="cannot make embeddings"):
            await jobs.submit(None, "index", {"texts": ["a"]}, model="espeak-ng")
