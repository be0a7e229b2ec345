"""A run file: one job described in YAML (JSON is YAML too), checked before anything runs.

    kind: generate            # any job kind
    model: tiny-lm
    priority: 0
    input: {prompts: ["Hello"]}

or an eval suite, which becomes an eval and one run of it::

    kind: eval
    model: tiny-lm
    suite:
      name: smoke
      dataset: data/qa.jsonl     # {"item": {...}} per line (a path, or an uploaded file id)
      template: "Q: {{item.q}}"  # or a list of {role, content} messages
      graders: [{type: string_check, name: exact, input: "{{sample.output_text}}",
                 reference: "{{item.a}}", operation: eq}]
      max_samples: 50            # or sample_fraction: 0.1 (drawn with seed)
      epochs: 1                  # each row sampled this many times
      seed: 1
      sampling: {temperature: 0, max_completion_tokens: 16}
      golden:                    # outputs pinned for this seed; a drift fails the run
        - {index: 0, output_text: "Paris"}              # the dataset's row 0 (0-based)
        - {index: 3, criterion: exact, score: 1, tolerance: 0}

A bad file is refused naming the file, the line and the field.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pydantic
import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from berth import errors
from berth.evals.golden import Golden
from berth.training.diffusion_config import check_run_input


class Suite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="suite", min_length=1, max_length=255)
    dataset: str = Field(min_length=1)
    template: str | list[dict[str, Any]]
    graders: list[dict[str, Any]] = Field(min_length=1)
    max_samples: int | None = Field(default=None, ge=1)
    sample_fraction: float | None = Field(default=None, gt=0, le=1)
    epochs: int = Field(default=1, ge=1, le=1000)
    seed: int = 0
    sampling: dict[str, Any] = Field(default_factory=dict)
    item_schema: dict[str, Any] = Field(default_factory=lambda: {"type": "object"})
    golden: list[Golden] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_cut(self) -> Suite:
        if self.max_samples is not None and self.sample_fraction is not None:
            raise ValueError("give max_samples or sample_fraction, not both")
        return self

    def chosen(self, count: int) -> list[int]:
        """The indices of the rows this suite samples, drawn with ``seed``, each ``epochs``
        times (an epoch's rows after the one before)."""
        keep = count
        if self.max_samples is not None:
            keep = min(count, self.max_samples)
        elif self.sample_fraction is not None:
            keep = max(1, round(count * self.sample_fraction))
        picked = sorted(random.Random(self.seed).sample(range(count), keep))
        return picked * self.epochs

    def run_goldens(self, chosen: list[int] | None) -> list[Golden]:
        """The goldens by place in the run: each pinned dataset row at every place ``chosen``
        puts it (None: the run reads every row once, in order)."""
        if chosen is None:
            return list(self.golden)
        placed = []
        for number, golden in enumerate(self.golden):
            places = [place for place, row in enumerate(chosen) if row == golden.index]
            if not places:
                raise errors.InvalidRequest(
                    f"suite.golden[{number}].index: row {golden.index} is not among the rows "
                    "this suite samples (see max_samples, sample_fraction and seed)."
                )
            placed += [golden.model_copy(update={"index": place}) for place in places]
        return placed


class RunFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str = Field(min_length=1)
    model: str | None = None
    priority: int = 0
    input: Any = None
    suite: Suite | None = None

    @model_validator(mode="after")
    def _suite_for_evals(self) -> RunFile:
        if self.kind == "eval" and (self.suite is None or self.model is None):
            raise ValueError("an eval needs a suite and the model it evaluates")
        if self.kind != "eval" and self.suite is not None:
            raise ValueError("only kind eval takes a suite; other kinds take an input")
        return self

    def messages(self) -> list[dict[str, Any]]:
        assert self.suite is not None
        if isinstance(self.suite.template, str):
            return [{"role": "user", "content": self.suite.template}]
        return self.suite.template


def line_of(node: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """The line (1-based) of the field at ``loc`` (its key, in a mapping) in the composed
    document; where the path ends early, the line of the last part found."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            pair = next(((k, v) for k, v in node.value if k.value == part), None)
            if pair is None:
                break
            line, node = pair[0].start_mark.line + 1, pair[1]
        elif (
            isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value)
        ):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def load(path: Path) -> RunFile:
    """The run file at ``path``, checked; InvalidRequest naming the file, line and field."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise errors.InvalidRequest(f"Cannot read {path}: {exc.strerror}.") from None
    try:
        tree = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        raise errors.InvalidRequest(
            f"{path}{where}: not YAML ({getattr(exc, 'problem', exc)})."
        ) from None
    if not isinstance(data, dict):
        raise errors.InvalidRequest(f"{path}, line 1: the file must be a mapping with kind: ...")
    try:
        spec = RunFile.model_validate(data)
    except pydantic.ValidationError as exc:
        found = exc.errors(include_url=False)
        typo = [e for e in found if e["type"] == "extra_forbidden"]
        problem = (typo or found)[0]
        loc = tuple(problem["loc"])
        field = ".".join(str(p) for p in loc) or "(top)"
        message = problem["msg"].removeprefix("Value error, ")
        raise errors.InvalidRequest(
            f"{path}, line {line_of(tree, loc)}, field {field}: {message}."
        ) from None
    if spec.kind == "train":
        check_run_input(spec.input, lambda loc: f"{path}, line {line_of(tree, ('input', *loc))}")
    return spec


def dataset_rows(path: Path, suite: Suite) -> tuple[list[dict[str, Any]], list[int]]:
    """The suite's rows from a local JSONL file (those :meth:`Suite.chosen` picks), and the
    dataset index of each."""
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise errors.InvalidRequest(f"{path}, line {number}: not JSON ({exc.msg}).") from None
        if not isinstance(row, dict) or not isinstance(row.get("item"), dict):
            raise errors.InvalidRequest(
                f'{path}, line {number}: each line must be {{"item": {{...}}}}.'
            )
        rows.append(row)
    if not rows:
        raise errors.InvalidRequest(f"{path} holds no rows.")
    chosen = suite.chosen(len(rows))
    return [rows[i] for i in chosen], chosen
