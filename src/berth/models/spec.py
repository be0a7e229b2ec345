"""A catalog entry (``ModelSpec``): what a model is, where its files come from, how to run it."""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from berth.tasks.task import Task

ALIAS_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"
SHA256_PATTERN = re.compile(r"^[0-9a-f]{64}$")
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b?|b)?\s*$", re.IGNORECASE)


def parse_bytes(value: Any) -> int:
    """Bytes from an int or a size like ``"512MiB"``, ``"2 GB"``, ``"1.5g"``."""
    if isinstance(value, bool):
        raise ValueError("a size must be a number of bytes or a string like '2GiB'")
    if isinstance(value, int | float):
        return int(value)
    match = _SIZE.match(str(value))
    if not match:
        raise ValueError(f"'{value}' is not a size: use bytes or a string like '512MiB', '2GB'")
    number, unit = float(match.group(1)), (match.group(2) or "").lower()
    base = 1024 if "i" in unit else 1000
    scale = 1 if unit in ("", "b") else base ** ("kmgt".index(unit[0]) + 1)
    return int(number * scale)


@dataclass(frozen=True)
class HubSource:
    """Files from a model hub repository at a revision (``hf:org/repo@revision``)."""

    repo: str
    revision: str

    def __str__(self) -> str:
        return f"hf:{self.repo}@{self.revision}"


@dataclass(frozen=True)
class LocalSource:
    """Files in a local directory (``local:/path``)."""

    path: Path

    def __str__(self) -> str:
        return f"local:{self.path}"


@dataclass(frozen=True)
class PackageSource:
    """Files shipped inside an installed Python package (``package:module/subdir``)."""

    module: str
    subdir: str

    def __str__(self) -> str:
        return f"package:{self.module}/{self.subdir}".rstrip("/")


@dataclass(frozen=True)
class NoSource:
    """No files at all (``none:``): the runner needs nothing to load (``echo``, test runners)."""

    def __str__(self) -> str:
        return "none:"


Source = HubSource | LocalSource | PackageSource | NoSource
SOURCE_FORMS = "hf:ORG/REPO@REVISION, local:/PATH, package:MODULE/SUBDIR or none:"


def parse_source(text: str) -> Source:
    """The source a catalog string names; raises ValueError saying the accepted forms."""
    forms = f"use {SOURCE_FORMS}"
    if text == "none:":
        return NoSource()
    if text.startswith("hf:"):
        repo, _, revision = text[3:].partition("@")
        if not re.fullmatch(r"[\w.-]+/[\w.-]+", repo):
            raise ValueError(f"'{text}' names no ORG/REPO: {forms}")
        return HubSource(repo, revision or "main")
    if text.startswith("local:"):
        path = Path(text[6:]).expanduser()
        if not str(path).strip():
            raise ValueError(f"'{text}' names no directory: {forms}")
        return LocalSource(path)
    if text.startswith("package:"):
        module, _, subdir = text[8:].partition("/")
        if not re.fullmatch(r"[A-Za-z_][\w.]*", module):
            raise ValueError(f"'{text}' names no Python module: {forms}")
        return PackageSource(module, subdir.strip("/"))
    raise ValueError(f"'{text}' is not a model source: {forms}")


class ModelOptions(BaseModel):
    """How to run a model; every field has a sensible default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    device: str = Field(
        default="auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$", description="auto, cpu, cuda, cuda:N"
    )
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = "auto"
    max_batch_size: int = Field(default=32, ge=1, le=4096)
    max_wait_ms: float = Field(
        default=5.0, ge=0, le=10_000, description="Longest a request waits for a batch to fill."
    )
    workers: int | None = Field(
        default=None,
        ge=1,
        le=64,
        description="Threads that run each batch together, a part each, for runners that "
        "allow it (default: 2 on CPU where the model's process has 2 math threads, one per "
        "part; else 1). They share the math threads.",
    )
    cpu_threads: int | None = Field(
        default=None,
        ge=1,
        le=4096,
        description="Threads the model's process uses for its math (OpenMP/MKL; default: the "
        "cores). Several workers share them. Process transport only.",
    )
    max_queue: int = Field(
        default=1024,
        ge=1,
        le=1_000_000,
        description="Requests that may wait for the model at once; more get 503 (queue full).",
    )
    keep_alive: float | None = Field(
        default=300.0,
        ge=0,
        description="Seconds a model may stay loaded while idle; null keeps it loaded.",
    )
    pinned: bool = Field(default=False, description="Never unload to make room.")
    memory_estimate: Annotated[int, Field(ge=0)] | None = Field(
        default=None, description="Expected bytes when loaded, before it has been measured."
    )
    transport: Literal["process", "thread"] = Field(
        default="process",
        description="process: a child process per model (the default); thread: in-process.",
    )
    runner_options: dict[str, Any] = Field(
        default_factory=dict, description="Passed to the runner as they are."
    )

    @field_validator("memory_estimate", mode="before")
    @classmethod
    def _size(cls, value: Any) -> Any:
        return None if value is None else parse_bytes(value)


class ModelSpec(BaseModel):
    """One catalog entry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    alias: str = Field(pattern=ALIAS_PATTERN, description="The name requests use.")
    task: Task
    runner: str = Field(min_length=1, description="The runner plugin that loads it.")
    source: str = Field(description=SOURCE_FORMS)
    files: tuple[str, ...] = Field(
        default=(),
        description="Glob patterns of the hub files to fetch, as huggingface_hub's "
        "allow_patterns (default: all).",
    )
    sha256: dict[str, str] = Field(
        default_factory=dict, description="Known sha256 per file, checked on pull and verify."
    )
    description: str = ""
    options: ModelOptions = Field(default_factory=ModelOptions)

    @field_validator("source")
    @classmethod
    def _source(cls, value: str) -> str:
        parse_source(value)
        return value

    @field_validator("sha256")
    @classmethod
    def _hashes(cls, value: dict[str, str]) -> dict[str, str]:
        for name, digest in value.items():
            if not SHA256_PATTERN.match(digest):
                raise ValueError(f"the sha256 of '{name}' must be 64 lowercase hex digits")
        return value

    @property
    def parsed_source(self) -> Source:
        return parse_source(self.source)

    def wants(self, name: str) -> bool:
        """Whether the repo file ``name`` is one the ``files`` patterns select (as
        huggingface_hub's ``allow_patterns``: ``*`` also matches ``/``; ``dir/`` means all of
        ``dir``)."""
        if not self.files:
            return True
        patterns = (p + "*" if p.endswith("/") else p for p in self.files)
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)
