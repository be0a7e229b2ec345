"""A fine-tune run file: an LLM LoRA fine-tune described in YAML, checked before anything is
uploaded or queued, then run through the fine-tuning service (the same rules as
``POST /v1/fine_tuning/jobs``)::

    kind: fine-tune
    model: tiny-lm                     # the base: a chat model in the catalog
    training_file: data/train.jsonl    # a path (uploaded, purpose fine-tune) or a file id
    validation_file: data/valid.jsonl  # optional, the same
    method: supervised                 # or dpo (preference lines; beta in hyperparameters)
    hyperparameters: {n_epochs: 3, batch_size: 2, learning_rate_multiplier: 1.0}
    lora: {rank: 8, alpha: 16, dropout: 0.0, target_modules: [q_proj, v_proj],
           max_steps: 200, checkpoint_every: 20, learning_rate: 1.0e-4}
    seed: 3
    suffix: codeword

A bad file is refused naming the file, the line and the field; a bad training line names the
data file and its line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pydantic
import yaml
from pydantic import BaseModel, ConfigDict, Field

from berth import errors
from berth.app import Berth
from berth.cli.runfile import line_of
from berth.training.options import FineTuningLora
from berth.training.record import FineTuningJob, Hyperparameters

KIND = "fine-tune"
DEFAULT_HYPER = Hyperparameters()


class TuneHyperparameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    n_epochs: int = Field(default=DEFAULT_HYPER.n_epochs, ge=1)
    batch_size: int = Field(default=DEFAULT_HYPER.batch_size, ge=1)
    learning_rate_multiplier: float = Field(default=DEFAULT_HYPER.learning_rate_multiplier, gt=0)
    beta: float = Field(default=DEFAULT_HYPER.beta, gt=0, le=100)

    def resolved(self) -> Hyperparameters:
        return Hyperparameters(
            self.n_epochs, self.batch_size, self.learning_rate_multiplier, self.beta
        )


class TuneFile(BaseModel):
    """A fine-tune run file (see the module doc)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["fine-tune"]
    model: str = Field(min_length=1)
    training_file: str = Field(min_length=1)
    validation_file: str | None = None
    method: str = Field(default="supervised", min_length=1, max_length=40)
    hyperparameters: TuneHyperparameters = Field(default_factory=TuneHyperparameters)
    lora: FineTuningLora = Field(default_factory=FineTuningLora)
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1)
    suffix: str | None = None


def describes_fine_tune(path: Path) -> bool:
    """Whether the run file at ``path`` is a fine-tune (``kind: fine-tune``); False for
    anything unreadable, which the general run file loader then reports."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return False
    return isinstance(data, dict) and data.get("kind") == KIND


def load_tune(path: Path) -> TuneFile:
    """The fine-tune run file at ``path``, checked; InvalidRequest naming the file, line and
    field."""
    text = path.read_text(encoding="utf-8")
    try:
        return TuneFile.model_validate(yaml.safe_load(text))
    except pydantic.ValidationError as exc:
        found = exc.errors(include_url=False)
        typo = [e for e in found if e["type"] == "extra_forbidden"]
        problem = (typo or found)[0]
        loc = tuple(problem["loc"])
        field = ".".join(str(p) for p in loc) or "(top)"
        message = problem["msg"].removeprefix("Value error, ")
        line = line_of(yaml.compose(text), loc)
        raise errors.InvalidRequest(f"{path}, line {line}, field {field}: {message}.") from None


async def _file_id(berth: Berth, given: str, field: str, base: Path) -> str:
    """An uploaded file's id: ``given`` itself, or the id of the local file it names, uploaded
    now with the purpose ``fine-tune`` (its lines checked as it is)."""
    if given.startswith("file-"):
        return given
    path = (base / given).resolve()
    if not path.is_file():
        raise errors.InvalidRequest(f"{field}: no file at {path}. Give a path or a file id.")
    try:
        with path.open("rb") as stream:
            stored = await berth.services.files.upload(None, path.name, KIND, stream)
    except errors.InvalidRequest as exc:
        raise errors.InvalidRequest(f"{field} ({path}): {exc.message}") from None
    return stored.id


async def submit_tune(berth: Berth, spec: TuneFile, base: Path) -> FineTuningJob:
    """Upload the files the run file names and create its fine-tuning job (queued)."""
    training = await _file_id(berth, spec.training_file, "training_file", base)
    validation = None
    if spec.validation_file is not None:
        validation = await _file_id(berth, spec.validation_file, "validation_file", base)
    return await berth.services.fine_tuning.create(
        None,
        model=spec.model,
        training_file=training,
        validation_file=validation,
        hyperparameters=spec.hyperparameters.resolved(),
        lora=spec.lora.resolved(),
        method=spec.method,
        seed=spec.seed,
        suffix=spec.suffix,
    )
