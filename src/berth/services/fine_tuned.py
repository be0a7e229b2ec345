"""Fine-tuned models in the catalog: a finished job's adapter and each of its checkpoints,
served as the base model with that adapter applied (an LLM fine-tune's here, a diffusion
``train`` job's through :mod:`berth.services.trained_images`).

A job's final model is ``ft-<base>-<suffix>-<id tail>``; the checkpoint at step N is that
name with ``-step-N``. Each entry names the base's files and the adapter folder in its
runner options, pinned to the adapter's sha256 (from the checkpoint's manifest, checked by
the runner before the adapter serves), so a changed or missing adapter never serves. The
pool answers every such entry over one base from one model process holding the base once
(see :mod:`berth.pool.hosting`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from berth import errors
from berth.models.spec import ALIAS_PATTERN, ModelSpec
from berth.training.record import FineTuningCheckpoint, FineTuningJob

MAX_ALIAS = 64


class ModelCatalog(Protocol):
    """The catalog as fine-tuning needs it."""

    def get(self, alias: str) -> ModelSpec: ...

    def add(self, spec: ModelSpec, origin: str) -> None: ...

    def __contains__(self, alias: object) -> bool: ...


class BasePaths(Protocol):
    def path_for(self, spec: ModelSpec) -> Path | None: ...


def served_alias(parts: list[str]) -> str:
    """Parts joined by dashes, cut from the left to the longest alias (the id tail stays)."""
    return "-".join(parts)[-MAX_ALIAS:].lstrip("-._")


def fine_tuned_name(tune: FineTuningJob) -> str:
    """The catalog alias of a finished job's adapter."""
    parts = ["ft", tune.model, *([tune.suffix] if tune.suffix else []), tune.id[-8:]]
    return served_alias(parts) or tune.id[-8:]


def checkpoint_name(tune: FineTuningJob, step: int) -> str:
    """The catalog alias of the job's checkpoint at ``step``."""
    parts = ["ft", tune.model, *([tune.suffix] if tune.suffix else []), tune.id[-8:]]
    return served_alias([*parts, "step", str(step)])


def adapter_spec(
    base: ModelSpec,
    alias: str,
    directory: Path,
    adapter: Path,
    sha256: str,
    description: str,
) -> ModelSpec:
    """A catalog entry that loads ``base`` (from ``directory``) with ``adapter`` applied."""
    options = dict(base.options.runner_options)
    options.update({"adapter": str(adapter), "adapter_sha256": sha256, "adapter_base": base.alias})
    return base.model_copy(
        update={
            "alias": alias,
            "source": f"local:{directory}",
            "files": (),
            "description": description,
            "options": base.options.model_copy(update={"runner_options": options, "pinned": False}),
        }
    )


@dataclass(frozen=True, slots=True)
class Adapter:
    """A trained adapter to serve: over which base, as which alias, from where."""

    base: str
    """The base model's alias."""
    alias: str
    folder: Path
    """The folder holding ``adapter_model.safetensors``."""
    sha256: str
    trained_by: str
    """The id of the job that trained it."""
    step: int


class FineTunedModels:
    """Puts adapters into the catalog, each over its base's cached files."""

    def __init__(self, catalog: ModelCatalog, cache: BasePaths) -> None:
        self.catalog = catalog
        self.cache = cache

    def publish(
        self, tune: FineTuningJob, alias: str, adapter: Path, sha256: str, step: int
    ) -> ModelSpec:
        """Add (or replace) ``alias``: the job's base with the adapter in ``adapter``."""
        return self.add(
            Adapter(tune.model, alias, adapter, sha256, tune.id, step),
            f"fine-tuning job {tune.id}",
        )

    def add(self, adapter: Adapter, origin: str) -> ModelSpec:
        """Add (or replace) the adapter's model: its base with it applied."""
        alias = adapter.alias
        if not re.match(ALIAS_PATTERN, alias):
            raise errors.InvalidRequest(
                f"'{alias}' is not a model alias Berth can serve (an older checkpoint name); "
                "train the job again to get servable checkpoint names."
            )
        base = self.catalog.get(adapter.base)
        directory = self.cache.path_for(base)
        if directory is None:
            raise errors.ModelNotCached(
                f"Model '{adapter.base}', the base of {adapter.trained_by}, has no files here. "
                f"Run `berth models pull {adapter.base}` first."
            )
        description = (
            f"LoRA adapter on {base.alias} from {adapter.trained_by} (step {adapter.step})"
        )
        spec = adapter_spec(base, alias, directory, adapter.folder, adapter.sha256, description)
        self.catalog.add(spec, origin)
        return spec

    def publish_checkpoint(self, tune: FineTuningJob, checkpoint: FineTuningCheckpoint) -> str:
        """Add the checkpoint's model to the catalog; return its alias."""
        self.publish(
            tune,
            checkpoint.fine_tuned_model_checkpoint,
            Path(checkpoint.path),
            checkpoint.sha256,
            checkpoint.step,
        )
        return checkpoint.fine_tuned_model_checkpoint
