"""``berth run FILE.yaml`` from the command line: an eval suite on the built-in echo model
(it answers the prompt back, so the outcomes are known), any other kind, ``--detach``, and bad
files refused naming the file, line and field before anything is queued."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.acceptance.conftest import Cli
from tests.acceptance.live import free_port

pytestmark = [pytest.mark.acceptance, pytest.mark.slow]
SUITE = """\
kind: eval
model: echo
priority: 5
suite:
  name: smoke
  dataset: qa.jsonl
  template: "{{item.q}}"
  graders:
    - type: string_check
      name: echoed
      input: "{{sample.output_text}}"
      reference: "{{item.a}}"
      operation: eq
  seed: 3
  sampling: {temperature: 0}
"""
ROWS = [("ahoy", "ahoy"), ("harbour", "harbour"), ("sea", "sky"), ("ship", "ship")]


@pytest.fixture
def berth_env(berth_env: dict[str, str]) -> dict[str, str]:
    """The shared environment on a free port: this machine may have a server on 8000."""
    return {**berth_env, "BERTH_PORT": str(free_port())}


def result_of(stdout: str) -> dict[str, object]:
    found: dict[str, object] = json.loads(stdout)
    return found


def test_an_eval_suite_runs_and_prints_its_counts(
    cli: Cli, server: subprocess.Popen[str], tmp_path: Path
) -> None:
    (tmp_path / "qa.jsonl").write_text(
        "".join(json.dumps({"item": {"q": q, "a": a}}) + "\n" for q, a in ROWS)
    )
    (tmp_path / "smoke.yaml").write_text(SUITE)
    done = cli("run", "smoke.yaml", timeout=120)
    result = result_of(done.stdout)
    assert result["result_counts"] == {"total": 4, "passed": 3, "failed": 1, "errored": 0}
    assert result["per_testing_criteria_results"] == [
        {"testing_criteria": "echoed", "passed": 3, "failed": 1}
    ]
    assert "Eval eval_" in done.stderr
    (tmp_path / "two.yaml").write_text(SUITE.replace("  seed: 3", "  seed: 3\n  max_samples: 2"))
    two = result_of(cli("run", "two.yaml", timeout=120).stdout)
    assert two["result_counts"]["total"] == 2  # type: ignore[index]
    (tmp_path / "epochs.yaml").write_text(SUITE.replace("  seed: 3", "  seed: 3\n  epochs: 3"))
    three = result_of(cli("run", "epochs.yaml", timeout=120).stdout)
    assert three["result_counts"] == {"total": 12, "passed": 9, "failed": 3, "errored": 0}
    half = SUITE.replace("  seed: 3", "  seed: 3\n  sample_fraction: 0.5")
    (tmp_path / "half.yaml").write_text(half)
    assert result_of(cli("run", "half.yaml", timeout=120).stdout)["result_counts"]["total"] == 2  # type: ignore[index]


def test_other_kinds_run_and_detach_leaves_the_job_queued(
    cli: Cli, server: subprocess.Popen[str], tmp_path: Path
) -> None:
    (tmp_path / "echo.yaml").write_text("kind: echo\ninput: {hello: world}\n")
    assert result_of(cli("run", "echo.yaml", timeout=60).stdout) == {"hello": "world"}
    job_id = cli("run", "echo.yaml", "--detach").stdout.strip()
    assert job_id.startswith("job_")
    waited = cli("jobs", "wait", job_id, timeout=60)
    assert result_of(waited.stdout) == {"hello": "world"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (SUITE.replace("  seed: 3", "  seed: lots"),
         "line 14, field suite.seed: Input should be a valid integer"),
        (SUITE.replace("model: echo\n", ""),
         "line 1, field (top): an eval needs a suite and the model"),
        (SUITE.replace("  graders:", "  graderz:"), "line 8, field suite.graderz: Extra inputs"),
        ("kind: eval\nmodel: echo\nsuite: [1, 2\n", "line 4: not YAML"),
    ],
)  # fmt: skip
def test_a_bad_file_is_refused_naming_the_file_line_and_field(
    cli: Cli, tmp_path: Path, text: str, message: str
) -> None:
    (tmp_path / "bad.yaml").write_text(text)
    done = cli("run", "bad.yaml", check=False)
    assert done.returncode == 1
    assert "bad.yaml" in done.stderr and message in done.stderr, done.stderr
    listed = cli("jobs", "ls", "--json").stdout
    assert json.loads(listed) == []
