"""``berth run train.yaml`` for an LLM fine-tune: the files it names are uploaded, the job
runs on a ``berth serve`` with progress and prints its fine-tuned model, then in the catalog;
a bad file is refused naming the file, line and field before anything is queued."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.acceptance.conftest import Cli
from tests.acceptance.live import free_port
from tests.tiny.causal_lm import session_causal_lm

pytestmark = [pytest.mark.acceptance, pytest.mark.slow]
TUNE = """\
kind: fine-tune
model: tiny-lm
training_file: data/train.jsonl
validation_file: data/valid.jsonl
hyperparameters: {n_epochs: 100, batch_size: 2}
lora:
  rank: 4
  max_steps: 12
  checkpoint_every: 6
  learning_rate: 1.0e-2
seed: 3
suffix: yaml
"""
EXAMPLE = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}


@pytest.fixture
def berth_env(
    berth_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """The shared environment on a free port, with the tiny LM in the catalog."""
    home = Path(berth_env["BERTH_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    model = session_causal_lm(tmp_path_factory)
    (home / "catalog.toml").write_text(
        f'[models.tiny-lm]\ntask = "chat"\nrunner = "transformers"\nsource = "local:{model}"\n'
    )
    return {**berth_env, "BERTH_PORT": str(free_port())}


def write_data(folder: Path, training: str | None = None) -> None:
    (folder / "data").mkdir(exist_ok=True)
    line = json.dumps(EXAMPLE) + "\n"
    (folder / "data" / "train.jsonl").write_text(training or line * 4)
    (folder / "data" / "valid.jsonl").write_text(line)


def test_a_fine_tune_file_runs_to_its_model(
    cli: Cli, server: subprocess.Popen[str], tmp_path: Path
) -> None:
    write_data(tmp_path)
    (tmp_path / "train.yaml").write_text(TUNE)
    done = cli("run", "train.yaml", timeout=300)
    result = json.loads(done.stdout)
    assert result["steps"] == 12 and result["fine_tuned_model"].startswith("ft-tiny-lm-yaml-")
    assert "Fine-tuning job ftjob-" in done.stderr
    listed = json.loads(cli("models", "ls", "--json").stdout)
    aliases = {entry["alias"] for entry in listed}
    assert result["fine_tuned_model"] in aliases
    assert f"{result['fine_tuned_model']}-step-6" in aliases


@pytest.mark.parametrize(
    ("text", "training", "message"),
    [
        (TUNE.replace("  rank: 4", "  rnak: 4"), None, "line 7, field lora.rnak: Extra inputs"),
        (TUNE.replace("max_steps: 12", "max_steps: 0"), None,
         "line 8, field lora.max_steps: Input should be greater than or equal to 1"),
        (TUNE.replace("model: tiny-lm\n", ""), None, "line 1, field model: Field required"),
        (TUNE, '{"messages": []}\n', "training_file ("),
        (TUNE.replace("data/valid", "data/nope"), None, "validation_file: no file at"),
        (TUNE.replace("model: tiny-lm", "model: no-such"), None, "model: No model"),
    ],
)  # fmt: skip
def test_a_bad_fine_tune_file_is_refused(
    cli: Cli, tmp_path: Path, text: str, training: str | None, message: str
) -> None:
    write_data(tmp_path, training)
    (tmp_path / "bad.yaml").write_text(text)
    done = cli("run", "bad.yaml", check=False)
    assert done.returncode == 1
    assert message in done.stderr, done.stderr
    assert json.loads(cli("jobs", "ls", "--json").stdout) == []
