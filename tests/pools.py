"""Model pools for tests: catalog entries for the echo runner and pools over them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from berth import errors
from berth.clock import Clock
from berth.models.spec import ModelSpec
from berth.plugins import PluginRegistry
from berth.pool.pool import ModelPool
from berth.runners.builtin import register
from berth.runners.contract import RunnerType
from berth.services.inference import InferenceService
from berth.settings import Settings
from berth.tasks.calls import ModelCalls


def spec(
    alias: str,
    runner: str = "echo",
    transport: str = "thread",
    runner_options: Mapping[str, Any] | None = None,
    task: str = "echo",
    **options: Any,
) -> ModelSpec:
    """A catalog entry that needs no files (``task`` echo: a stand-in for any task)."""
    return ModelSpec(
        alias=alias,
        task=task,
        runner=runner,
        source="none:",
        options={"transport": transport, "runner_options": dict(runner_options or {}), **options},
    )


def runners(*extra: RunnerType) -> dict[str, RunnerType]:
    """The built-in runners plus ``extra``."""
    registry = PluginRegistry()
    register(registry)
    for runner in extra:
        registry.add_runner(runner)
    return registry.runners


def catalog(specs: Iterable[ModelSpec]) -> Any:
    """``specs`` as the pool's ``specs`` callable (UnknownModel for anything else)."""
    table = {s.alias: s for s in specs}

    def get(alias: str) -> ModelSpec:
        if alias not in table:
            raise errors.UnknownModel(f"No model '{alias}' in this test's catalog.")
        return table[alias]

    return get


def make_pool(
    specs: Iterable[ModelSpec],
    *,
    budget: Mapping[str, str | int] | None = None,
    extra: Iterable[RunnerType] = (),
    clock: Clock | None = None,
    **settings: Any,
) -> ModelPool:
    """A pool (not yet open) over ``specs`` with no files to resolve."""
    return ModelPool(
        Settings(memory_budget=dict(budget or {}), **settings),
        catalog(specs),
        lambda _: None,
        runners(*extra),
        clock=clock,
    )


class PoolCatalog:
    """The catalog a pool loads from, as the inference service reads it (tests only)."""

    def __init__(self, pool: ModelPool) -> None:
        self.get = pool.spec

    def specs(self) -> list[ModelSpec]:
        return []


def inference_over(pool: ModelPool) -> InferenceService:
    """The inference service over ``pool`` and the catalog it loads from."""
    return InferenceService(PoolCatalog(pool), pool)


def job_calls(pool: ModelPool) -> ModelCalls:
    """``pool`` as a job reaches it: through the inference service, after online requests."""
    return inference_over(pool).for_jobs()
