"""The model cache against a stand-in hub on 127.0.0.1: pull, resume, verify, remove."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from huggingface_hub import constants

from berth import errors
from berth.models.cache import ModelCache
from berth.models.catalog import Catalog
from berth.models.manifest import ModelState
from berth.models.pull import PullProgress
from berth.models.spec import ModelSpec
from berth.settings import Settings
from berth.tasks.task import Task
from tests.hubstandin import CUT, HubStandIn, free_port, sha256, tiny_repo_files

pytestmark = pytest.mark.integration
WEIGHTS = "model.safetensors"
FILES = tiny_repo_files()
PULLED = {"config.json", "tokenizer.json", "1_Pooling/config.json", WEIGHTS}


@pytest.fixture
def hub() -> Iterator[HubStandIn]:
    with HubStandIn() as stand_in:
        stand_in.add_repo("acme/tiny", FILES)
        yield stand_in


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """huggingface_hub writes what it received in 10 MB chunks; the test files are 300 kB,
    so use chunks that divide half of the weights (where the stand-in cuts connections)."""
    monkeypatch.setattr(constants, "DOWNLOAD_CHUNK_SIZE", 15_000)


@pytest.fixture
def cache(tmp_path: Path, hub: HubStandIn) -> ModelCache:
    return ModelCache(Settings(home=tmp_path, hub_endpoint=hub.url))


def tiny(revision: str = "main", **fields: object) -> ModelSpec:
    return ModelSpec.model_validate(
        {
            "alias": "tiny",
            "task": Task.EMBED,
            "runner": "sentence-transformers",
            "source": f"hf:acme/tiny@{revision}",
            "files": ["*.json", "*.safetensors"],
            "sha256": {WEIGHTS: sha256(FILES[WEIGHTS])},
            **fields,
        }
    )


def test_a_clean_pull_caches_verified_files_and_a_manifest(
    cache: ModelCache, hub: HubStandIn
) -> None:
    spec = tiny()
    assert cache.state(spec) is ModelState.MISSING
    with pytest.raises(errors.ModelNotCached, match="Run `berth models pull tiny`"):
        cache.path_for(spec)
    progress: list[PullProgress] = []
    manifest = cache.pull(spec, progress.append)

    folder = cache.folder("tiny")
    assert set(manifest.files) == PULLED
    assert manifest.revision == hub.repos["acme/tiny"].commit
    for name in PULLED:
        assert (folder.files / name).read_bytes() == FILES[name]
        assert manifest.files[name].sha256 == sha256(FILES[name])
    assert not (folder.files / "README.md").exists()
    recorded = json.loads(folder.manifest.read_text())
    assert recorded["alias"] == "tiny" and recorded["source"] == "hf:acme/tiny@main"
    assert recorded["revision"] == manifest.revision
    assert recorded["pulled_at"] and recorded["verified_at"]
    assert recorded["files"][WEIGHTS]["size"] == len(FILES[WEIGHTS])
    assert cache.state(spec) is ModelState.VERIFIED
    assert cache.path_for(spec) == folder.files
    assert not folder.partial.exists()
    total = sum(len(FILES[name]) for name in PULLED)
    assert progress[-1].done == progress[-1].total == total
    assert {report.file for report in progress} == PULLED


def test_pulling_again_downloads_nothing(cache: ModelCache, hub: HubStandIn) -> None:
    cache.pull(tiny())
    hub.log.clear()
    cache.pull(tiny())
    assert [entry.method for entry in hub.log] == ["GET"]
    assert "/api/models/acme/tiny" in hub.log[0].path

    pinned = tiny(hub.repos["acme/tiny"].commit)
    cache.pull(pinned)
    hub.log.clear()
    cache.pull(pinned)
    assert hub.log == []


@pytest.mark.parametrize(
    ("serve", "catalog", "blame"),
    [
        ({WEIGHTS: b"x" * len(FILES[WEIGHTS])}, {}, "but the hub lists"),
        ({}, {WEIGHTS: "0" * 64}, "but the catalog expects " + "0" * 64),
        ({"config.json": b'{"hidden_size": 9, "model_type": "tiny"}\n'}, {}, "git blob id"),
    ],
)
def test_a_corrupt_file_is_refused_and_nothing_is_cached(
    cache: ModelCache,
    hub: HubStandIn,
    serve: dict[str, bytes],
    catalog: dict[str, str],
    blame: str,
) -> None:
    hub.served.update(serve)
    spec = tiny(sha256=catalog)
    with pytest.raises(errors.ModelCorrupt) as caught:
        cache.pull(spec)
    bad = next(iter(serve or catalog))
    assert f"Model 'tiny': file '{bad}'" in caught.value.message
    assert blame in caught.value.message
    assert cache.state(spec) is ModelState.MISSING
    assert not cache.folder("tiny").manifest.exists()
    assert not cache.folder("tiny").partial_file(bad).exists()
    with pytest.raises(errors.ModelNotCached):
        cache.path_for(spec)


def test_a_download_cut_off_is_resumed_by_the_next_pull(cache: ModelCache, hub: HubStandIn) -> None:
    half = len(FILES[WEIGHTS]) // 2
    hub.fault(WEIGHTS, CUT, 503)
    with pytest.raises(errors.DownloadFailed, match=r"Model 'tiny': .*'model\.safetensors'.*503"):
        cache.pull(tiny())
    assert cache.state(tiny()) is ModelState.MISSING
    partial = cache.folder("tiny").partial_file(WEIGHTS)
    assert partial.stat().st_size == half

    cache.pull(tiny())
    gets = hub.gets(WEIGHTS)
    assert [get.range for get in gets] == [None, f"bytes={half}-", f"bytes={half}-"]
    assert cache.state(tiny()) is ModelState.VERIFIED
    assert (cache.folder("tiny").files / WEIGHTS).read_bytes() == FILES[WEIGHTS]
    assert not partial.exists()


def test_a_dropped_connection_resumes_within_the_pull(cache: ModelCache, hub: HubStandIn) -> None:
    hub.fault(WEIGHTS, CUT)
    cache.pull(tiny())
    half = len(FILES[WEIGHTS]) // 2
    assert [get.range for get in hub.gets(WEIGHTS)] == [None, f"bytes={half}-"]
    assert cache.state(tiny()) is ModelState.VERIFIED


def test_verify_finds_a_file_changed_after_the_pull(cache: ModelCache, hub: HubStandIn) -> None:
    spec = tiny()
    cache.pull(spec)
    weights = cache.folder("tiny").files / WEIGHTS
    data = bytearray(weights.read_bytes())
    data[1000] ^= 0xFF
    weights.write_bytes(bytes(data))
    os.utime(weights, ns=(1_000_000_000, 1_000_000_000))
    assert cache.state(spec) is ModelState.CACHED

    report = cache.verify(spec)
    assert report.state is ModelState.CORRUPT
    assert [check.name for check in report.bad] == [WEIGHTS]
    assert cache.state(spec) is ModelState.CORRUPT
    with pytest.raises(errors.ModelCorrupt, match="berth models verify tiny"):
        cache.path_for(spec)

    hub.log.clear()
    cache.pull(spec)
    assert [get.path.rsplit("/", 1)[-1] for get in hub.log if "/resolve/" in get.path] == [
        WEIGHTS,
        WEIGHTS,
    ]
    assert cache.verify(spec).state is ModelState.VERIFIED
    assert cache.state(spec) is ModelState.VERIFIED


def test_a_truncated_file_is_corrupt_without_hashing(cache: ModelCache) -> None:
    cache.pull(tiny())
    (cache.folder("tiny").files / "config.json").write_bytes(b"{}")
    assert cache.state(tiny()) is ModelState.CORRUPT


def test_rm_frees_the_space(cache: ModelCache) -> None:
    cache.pull(tiny())
    on_disk = sum(p.stat().st_size for p in cache.folder("tiny").path.rglob("*") if p.is_file())
    assert on_disk > sum(len(FILES[name]) for name in PULLED)
    assert cache.remove(tiny()) == on_disk
    assert not cache.folder("tiny").path.exists()
    assert cache.state(tiny()) is ModelState.MISSING
    assert cache.remove(tiny()) == 0


def test_an_unreachable_hub_is_one_clear_error(tmp_path: Path) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    cache = ModelCache(Settings(home=tmp_path, hub_endpoint=endpoint))
    with pytest.raises(errors.DownloadFailed) as caught:
        cache.pull(tiny())
    message = caught.value.message
    assert message.startswith(f"Cannot reach the model hub at {endpoint}: ")
    assert "Check BERTH_HUB_ENDPOINT" in message and "\n" not in message


@pytest.mark.parametrize(
    ("source", "missing"),
    [("hf:acme/nothing@main", "repository"), ("hf:acme/tiny@v9", "revision")],
)
def test_an_unknown_repo_or_revision_is_named(cache: ModelCache, source: str, missing: str) -> None:
    spec = ModelSpec(alias="x", task=Task.EMBED, runner="r", source=source)
    with pytest.raises(errors.DownloadFailed, match=f"has no such {missing}"):
        cache.pull(spec)


def test_a_catalog_hash_for_a_file_not_pulled_is_a_catalog_error(cache: ModelCache) -> None:
    with pytest.raises(errors.CatalogError, match=r"sha256 names 'README\.md'"):
        cache.pull(tiny(sha256={"README.md": "0" * 64}))


def test_the_packaged_model_resolves_verifies_and_cannot_be_pulled(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    cache = ModelCache(settings)
    spec = Catalog.load(settings).get("all-minilm-l6-v2")
    path = cache.path_for(spec)
    assert path is not None and (path / "model.safetensors").is_file()
    assert cache.state(spec) is ModelState.CACHED
    report = cache.verify(spec)
    assert report.state is ModelState.VERIFIED, report.bad
    assert {"model.safetensors", "1_Pooling/config.json"} <= {c.name for c in report.files}
    assert cache.state(spec) is ModelState.VERIFIED
    with pytest.raises(errors.InvalidRequest, match="ships with the Python package"):
        cache.pull(spec)
    with pytest.raises(errors.InvalidRequest, match="Nothing to remove"):
        cache.remove(spec)


def test_local_and_fileless_sources(tmp_path: Path) -> None:
    cache = ModelCache(Settings(home=tmp_path))
    echo = ModelSpec(alias="e", task=Task.CHAT, runner="echo", source="none:")
    assert cache.path_for(echo) is None
    assert cache.state(echo) is ModelState.VERIFIED
    gone = ModelSpec(alias="l", task=Task.EMBED, runner="r", source=f"local:{tmp_path / 'no'}")
    assert cache.state(gone) is ModelState.MISSING
    with pytest.raises(errors.ModelNotCached, match="which is not a folder"):
        cache.path_for(gone)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "w.bin").write_bytes(b"weights")
    local = ModelSpec(
        alias="l",
        task=Task.EMBED,
        runner="r",
        source=f"local:{tmp_path / 'mine'}",
        sha256={"w.bin": "1" * 64},
    )
    assert cache.path_for(local) == tmp_path / "mine"
    assert cache.verify(local).state is ModelState.CORRUPT
    assert cache.state(local) is ModelState.CORRUPT
