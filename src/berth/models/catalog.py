"""The model catalog: Berth's built-in entries plus the user's TOML file, by alias.

A catalog file holds one ``[models.<alias>]`` table per model with the fields of
:class:`~berth.models.spec.ModelSpec`::

    [models.qwen]
    task = "chat"
    runner = "transformers"
    source = "hf:Qwen/Qwen2.5-0.5B-Instruct@7ae557604adf67be50417f59c2c2f167def9a775"

    [models.qwen.options]
    max_batch_size = 8

A user entry with the alias of a built-in one replaces it. Every entry is checked when the
catalog loads; a wrong one is refused with the file, the entry and the field named.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

import pydantic

from berth import errors
from berth.models.spec import ALIAS_PATTERN, ModelSpec
from berth.settings import Settings
from berth.tasks.task import Task

BUILTIN = "built-in catalog (berth/models/builtin.toml)"
_KNOWN_FIELDS = ", ".join(name for name in ModelSpec.model_fields if name != "alias")


class RunnerTasks(Protocol):
    """A runner plugin, as the catalog checks entries against it: the tasks it serves."""

    @property
    def tasks(self) -> frozenset[Task]: ...


class Catalog:
    """Every model Berth may run, by alias; build it with :meth:`load`."""

    def __init__(self, specs: Mapping[str, ModelSpec], origins: Mapping[str, str]) -> None:
        self._specs = dict(specs)
        self._origins = dict(origins)

    @classmethod
    def load(cls, settings: Settings, runners: Mapping[str, RunnerTasks] | None = None) -> Catalog:
        """The built-in entries overlaid with the user's catalog file (if there is one).

        With ``runners`` (the installed runner plugins), a user entry naming an unknown runner,
        or a runner that does not serve its task, is refused. Built-in entries whose runner
        plugin is not installed stay listed: loading one says which runner is missing.
        """
        specs = parse_catalog(_builtin_text(), BUILTIN)
        origins = dict.fromkeys(specs, BUILTIN)
        user = _user_file(settings)
        if user is not None:
            user_specs = parse_catalog(_read(user), str(user))
            if runners is not None:
                for spec in user_specs.values():
                    check_runner(spec, runners, str(user))
            specs.update(user_specs)
            origins.update(dict.fromkeys(user_specs, str(user)))
        return cls(specs, origins)

    def get(self, alias: str) -> ModelSpec:
        """The entry with this alias; raises UnknownModel naming close matches."""
        try:
            return self._specs[alias]
        except KeyError:
            raise errors.UnknownModel(self._unknown(alias)) from None

    def add(self, spec: ModelSpec, origin: str) -> None:
        """Add (or replace) an entry made while Berth runs: a fine-tuned model."""
        self._specs[spec.alias] = spec
        self._origins[spec.alias] = origin

    def specs(self) -> list[ModelSpec]:
        """Every entry, sorted by alias."""
        return [self._specs[alias] for alias in sorted(self._specs)]

    def origin(self, alias: str) -> str:
        """Where the entry comes from: the built-in catalog or the user's file."""
        self.get(alias)
        return self._origins[alias]

    def __contains__(self, alias: object) -> bool:
        return alias in self._specs

    def __len__(self) -> int:
        return len(self._specs)

    def _unknown(self, alias: str) -> str:
        close = difflib.get_close_matches(alias, list(self._specs), n=3, cutoff=0.6)
        if close:
            hint = "Did you mean " + " or ".join(f"'{name}'" for name in close) + "?"
        else:
            hint = "Known models: " + ", ".join(sorted(self._specs)) + "."
        return (
            f"No model in the catalog has the alias '{alias}'. {hint} "
            "List them with `berth models ls`."
        )


def parse_catalog(text: str, origin: str) -> dict[str, ModelSpec]:
    """The entries of one catalog file's text; ``origin`` names the file in errors."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise errors.CatalogError(
            f"Catalog {origin} is not valid TOML: {exc}. Fix the file at that line."
        ) from None
    extra = sorted(set(document) - {"models"})
    if extra:
        raise errors.CatalogError(
            f"Catalog {origin}: unknown top-level key '{extra[0]}'. "
            "Declare each model as a [models.ALIAS] table."
        )
    tables = document.get("models", {})
    if not isinstance(tables, dict):
        raise errors.CatalogError(
            f"Catalog {origin}: 'models' must be tables like [models.ALIAS], not a value."
        )
    return {alias: parse_entry(alias, table, origin) for alias, table in tables.items()}


def parse_entry(alias: str, table: Any, origin: str) -> ModelSpec:
    """One ``[models.<alias>]`` table as a ModelSpec, or a CatalogError naming the field."""
    where = f"Catalog {origin}, entry '{alias}'"
    if not re.match(ALIAS_PATTERN, alias):
        raise errors.CatalogError(
            f"{where}: the alias must be 1 to 64 lowercase letters, digits, '.', '_' or '-', "
            "starting with a letter or digit. Rename the table."
        )
    if not isinstance(table, dict):
        raise errors.CatalogError(f"{where}: must be a table ([models.{alias}]), not a value.")
    if "alias" in table:
        raise errors.CatalogError(
            f"{where}: alias: the table name sets the alias; remove the 'alias' field."
        )
    try:
        return ModelSpec.model_validate({"alias": alias, **table})
    except pydantic.ValidationError as exc:
        problems = " ".join(_describe(alias, error) for error in exc.errors(include_url=False))
        raise errors.CatalogError(f"{where}: {problems}") from None


def check_runner(spec: ModelSpec, runners: Mapping[str, RunnerTasks], origin: str) -> None:
    """Refuse an entry whose runner is not installed or does not serve its task."""
    where = f"Catalog {origin}, entry '{spec.alias}': runner"
    runner = runners.get(spec.runner)
    if runner is None:
        known = ", ".join(sorted(runners)) or "none"
        raise errors.CatalogError(
            f"{where}: there is no runner '{spec.runner}'. Known runners: {known}. "
            "Fix the name or install the plugin that provides it."
        )
    if spec.task not in runner.tasks:
        serves = ", ".join(sorted(task.value for task in runner.tasks)) or "nothing"
        raise errors.CatalogError(
            f"{where}: '{spec.runner}' does not serve the task '{spec.task.value}' "
            f"(it serves: {serves}). Pick another runner or task."
        )


def _describe(alias: str, error: Any) -> str:
    """``options.max_batch_size: Input should be ...`` from one pydantic error."""
    field = ".".join(str(part) for part in error["loc"]) or "entry"
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown field"
        if len(error["loc"]) == 1:
            message += f" (the fields are: {_KNOWN_FIELDS})"
        if len(error["loc"]) == 1 and isinstance(error["input"], dict):
            message += (
                f"; if '{alias}.{field}' is one alias, quote it: [models.\"{alias}.{field}\"]"
            )
    return f"{field}: {message}" + ("" if message.endswith(".") else ".")


def _builtin_text() -> str:
    return resources.files("berth.models").joinpath("builtin.toml").read_text(encoding="utf-8")


def _user_file(settings: Settings) -> Path | None:
    """The user's catalog: None when the default one does not exist; a named one must."""
    path = settings.user_catalog
    if path.exists():
        return path
    if settings.catalog_file is not None:
        raise errors.CatalogError(
            f"The catalog file {path} (BERTH_CATALOG_FILE) does not exist. "
            "Create it or unset BERTH_CATALOG_FILE."
        )
    return None


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise errors.CatalogError(f"Cannot read the catalog {path}: {exc}.") from None
