"""The lock goes with pyproject.toml: refreshed in the same commit as any dependency change."""

from __future__ import annotations

import importlib.util
import re
import tomllib
from importlib.machinery import SourceFileLoader
from pathlib import Path
from types import ModuleType

import pytest
from packaging.requirements import Requirement

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]


def lock_script() -> ModuleType:
    loader = SourceFileLoader("berth_lock_script", str(ROOT / "scripts" / "lock"))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def pins(path: Path) -> dict[str, str]:
    found = re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", path.read_text(), re.MULTILINE)
    return {re.sub(r"[-_.]+", "-", name).lower(): version for name, version in found}


@pytest.mark.parametrize("platform", ["cpu", "cuda"])
def test_every_lock_file_was_made_from_todays_pyproject(platform: str) -> None:
    script = lock_script()
    digest = script.inputs_digest(tomllib.loads((ROOT / "pyproject.toml").read_text()))
    files = sorted((ROOT / "lock" / platform).glob("*.txt"))
    assert {f.stem for f in files} == {"base", *script.extras(platform)}
    for path in files:
        assert f"# inputs: {digest}" in path.read_text(), f"{path} is stale: run scripts/lock"


@pytest.mark.parametrize("platform", ["cpu", "cuda"])
def test_every_requirement_is_locked_with_a_hash_at_a_version_it_allows(platform: str) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    folder = ROOT / "lock" / platform
    script = lock_script()
    extras = script.extras(platform)
    groups = {"base": project["dependencies"]}
    groups |= {name: project["optional-dependencies"][name] for name in extras}
    base = pins(folder / "base.txt")
    for group, requirements in groups.items():
        locked = base if group == "base" else {**base, **pins(folder / f"{group}.txt")}
        for text in requirements:
            requirement = Requirement(text)
            name = re.sub(r"[-_.]+", "-", requirement.name).lower()
            assert name in locked, f"{text} ({group}) is not in lock/{platform}"
            assert requirement.specifier.contains(locked[name], prereleases=True), (
                f"lock/{platform} has {name}=={locked[name]}, which {text} does not allow"
            )
    for path in folder.glob("*.txt"):
        entries = re.split(r"\n(?=[A-Za-z0-9])", path.read_text().split("\n", 4)[-1])
        assert all("--hash=sha256:" in entry for entry in entries if entry.strip()), path


def module_level_imports(path: Path) -> set[str]:
    """The top-level names a module imports when it is imported (not inside functions or
    ``if TYPE_CHECKING:``, where optional engines are imported when used)."""
    import ast

    names: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_berth_imports_only_what_serve_installs() -> None:
    """``scripts/serve`` installs base.txt alone: a module importing a package only an extra
    (dev, llama, ...) brings would fail there, as a tool's ``import httpx`` once did."""
    import sys
    from importlib.metadata import packages_distributions

    base = set(pins(ROOT / "lock" / "cpu" / "base.txt"))
    owners = packages_distributions()
    outside = []
    for path in sorted((ROOT / "src" / "berth").rglob("*.py")):
        for name in module_level_imports(path) - set(sys.stdlib_module_names) - {"berth"}:
            dists = {re.sub(r"[-_.]+", "-", d).lower() for d in owners.get(name, [name])}
            if not dists & base:
                outside.append(f"{path.relative_to(ROOT)}: {name}")
    assert not outside, f"imported at module level but not in lock/cpu/base.txt: {outside}"
