"""Job inputs name files only under BERTH_HOME or BERTH_DATA_DIRS, however they spell them."""

from __future__ import annotations

from pathlib import Path

import pytest

from berth import errors
from berth.jobs.paths import DataRoots
from berth.kinds.embed import EmbedParams, register
from berth.plugins import PluginRegistry

pytestmark = pytest.mark.unit


@pytest.fixture
def roots(tmp_path: Path) -> DataRoots:
    (tmp_path / "home" / "in").mkdir(parents=True)
    (tmp_path / "home" / "in" / "texts.jsonl").write_text('{"text": "a"}\n')
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "corpus.jsonl").write_text('{"text": "b"}\n')
    (tmp_path / "secret.txt").write_text("no")
    (tmp_path / "home" / "escape").symlink_to(tmp_path / "secret.txt")
    return DataRoots(tmp_path / "home", [tmp_path / "data"])


def test_files_under_home_and_the_data_folders_are_allowed(
    roots: DataRoots, tmp_path: Path
) -> None:
    assert roots.file("in/texts.jsonl") == (tmp_path / "home/in/texts.jsonl").resolve()
    assert roots.file(str(tmp_path / "data/corpus.jsonl")).name == "corpus.jsonl"
    assert roots.resolve("in/../in/texts.jsonl").name == "texts.jsonl"


@pytest.mark.parametrize(
    "name", ["/etc/passwd", "../secret.txt", "in/../../secret.txt", "escape", "~/.ssh/id_rsa"]
)
def test_anything_else_is_refused_with_the_rule(roots: DataRoots, name: str) -> None:
    with pytest.raises(errors.PathNotAllowed) as refused:
        roots.resolve(name)
    message = refused.value.message
    assert f"'{name}' is outside the allowed folders" in message
    assert "BERTH_DATA_DIRS" in message and "/v1/files" in message


def test_a_missing_allowed_file_says_what_to_give(roots: DataRoots) -> None:
    with pytest.raises(errors.InvalidJobInput, match="does not exist on this worker"):
        roots.file("in/missing.jsonl", "JSONL file")


def test_kinds_check_paths_at_submit_when_given_the_roots(roots: DataRoots) -> None:
    registry = PluginRegistry()
    register(registry)
    kind = registry.kind("embed")
    with pytest.raises(errors.InvalidJobInput, match="jsonl: The path '/etc/passwd' is outside"):
        kind.parse({"jsonl": "/etc/passwd"}, roots)
    assert isinstance(kind.parse({"jsonl": "in/texts.jsonl"}, roots), EmbedParams)


def test_an_uploaded_files_id_names_its_bytes_under_home(roots: DataRoots, tmp_path: Path) -> None:
    assert roots.resolve("file-01abc") == (tmp_path / "home" / "files" / "file-01abc").resolve()
    with pytest.raises(errors.PathNotAllowed):
        roots.resolve("file-x/../../../secret.txt")
