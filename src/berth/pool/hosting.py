"""Hosting: which resident answers an alias.

Most aliases have a resident of their own, keyed by the alias. A fine-tuned catalog entry
(its runner options name an ``adapter``) whose runner hosts adapters (the ``adapters``
feature) is answered instead by the one resident that holds its base unmerged: every adapter
entry over the same base files and load options (runner, task, dtype, device, batching, the
runner's other options) routes to it, so the base's weights load once and the budget counts
them once. Each request there carries its adapter (``GenerationRequest.adapter``), and the
runner loads each adapter on first use and runs rows with different adapters in one batch.

That resident's key is ``<base>+adapters-<digest of the load options>`` (``+`` is not allowed
in an alias, so it never meets a catalog entry). The base's own alias keeps its own resident
(merged-free and unchanged): sharing it would tie a plain model's pin, keep-alive and unload
to its adapters'.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

from berth.models.spec import LocalSource, ModelSpec
from berth.runners.contract import RunnerType
from berth.tasks.generate import AdapterRef, GenerationRequest

ADAPTER_OPTIONS = ("adapter", "adapter_sha256", "adapter_base")
"""The runner options that name an entry's adapter, not how its base loads."""
FEATURE = "adapters"


@dataclass(frozen=True)
class Route:
    """Where requests for one alias go: the ``key`` of the resident in the pool's table, the
    entry that resident loads, and the adapter the requests carry there (None: its own)."""

    key: str
    spec: ModelSpec
    adapter: AdapterRef | None = None

    def tag(self, items: Sequence[object]) -> Sequence[object]:
        """``items`` as they go to the resident: each generation request naming the adapter."""
        if self.adapter is None:
            return items
        return [
            dataclasses.replace(item, adapter=self.adapter)
            if isinstance(item, GenerationRequest)
            else item
            for item in items
        ]


def route(spec: ModelSpec, runner: RunnerType) -> Route:
    """The route of ``spec``'s requests, whose runner is ``runner``."""
    options = spec.options.runner_options
    folder = options.get("adapter")
    if not folder or FEATURE not in runner.features:
        return Route(spec.alias, spec)
    host = host_spec(spec)
    adapter = AdapterRef(spec.alias, str(folder), str(options.get("adapter_sha256") or ""))
    return Route(host.alias, host, adapter)


def host_spec(spec: ModelSpec) -> ModelSpec:
    """The entry of the resident that hosts ``spec``'s adapter: its base, without it."""
    runner_options = {
        name: value
        for name, value in spec.options.runner_options.items()
        if name not in ADAPTER_OPTIONS
    }
    options = spec.options.model_copy(update={"runner_options": runner_options, "pinned": False})
    loads = {
        "runner": spec.runner,
        "task": spec.task.value,
        "source": spec.source,
        "options": options.model_dump(mode="json"),
    }
    digest = hashlib.sha256(json.dumps(loads, sort_keys=True).encode()).hexdigest()[:8]
    base = _base_name(spec)
    return spec.model_copy(
        update={
            "alias": f"{base}+adapters-{digest}",
            "description": f"{base}, hosting its fine-tuned LoRA adapters side by side",
            "options": options,
        }
    )


def _base_name(spec: ModelSpec) -> str:
    named = spec.options.runner_options.get("adapter_base")
    if named:
        return str(named)
    source = spec.parsed_source
    return source.path.name if isinstance(source, LocalSource) else "base"
