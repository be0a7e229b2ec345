"""``berth evals`` from the command line: named suites under BERTH_HOME/evals/ listed, run
(goldens held or drifted), shown and compared, on the built-in echo model (it answers the
prompt back, so the outcomes are known); a bad suite is refused before anything runs."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.acceptance.conftest import Cli
from tests.acceptance.test_cli_run import SUITE, berth_env, result_of

pytestmark = [pytest.mark.acceptance, pytest.mark.slow]
__all__ = ["berth_env"]
ROWS = [("ahoy", "ahoy"), ("harbour", "harbour"), ("sea", "sky"), ("ship", "ship")]


def _suites(home: Path) -> Path:
    folder = home / "evals"
    folder.mkdir(parents=True)
    (folder / "qa.jsonl").write_text(
        "".join(json.dumps({"item": {"q": q, "a": a}}) + "\n" for q, a in ROWS)
    )
    (folder / "full.jsonl").write_text(
        "".join(json.dumps({"item": {"q": q, "a": q}}) + "\n" for q, _ in ROWS)
    )
    (folder / "smoke.yaml").write_text(SUITE)
    (folder / "full.yaml").write_text(SUITE.replace("qa.jsonl", "full.jsonl"))
    held = (
        "  golden:\n    - {index: 0, output_text: ahoy}\n"
        "    - {index: 2, criterion: echoed, score: 0}\n"
    )
    (folder / "pinned.yaml").write_text(SUITE + held)
    drift = "  golden:\n    - {index: 0, output_text: ahoy}\n    - {index: 2, output_text: sky}\n"
    (folder / "drift.yaml").write_text(SUITE + drift)
    return folder


def _run_id(stderr: str) -> str:
    found = re.search(r"run (evalrun_\w+)", stderr)
    assert found is not None, stderr
    return found.group(1)


def test_suites_are_listed_run_shown_and_compared(
    cli: Cli, server: subprocess.Popen[str], berth_env: dict[str, str]
) -> None:
    folder = _suites(Path(berth_env["BERTH_HOME"]))
    (folder / "bad.yaml").write_text(SUITE.replace("  seed: 3", "  seed: lots"))
    listed = cli("evals", "ls").stdout
    for name in ("smoke", "full", "pinned", "drift"):
        assert re.search(rf"^\W*{name}\W+echo\W", listed, re.MULTILINE), listed
    assert "bad" in listed and "invalid" in listed and "suite.seed" in listed

    smoke = cli("evals", "run", "smoke", timeout=120)
    assert result_of(smoke.stdout)["result_counts"] == {
        "total": 4, "passed": 3, "failed": 1, "errored": 0,
    }  # fmt: skip
    full = cli("evals", "run", "full", timeout=120)
    assert result_of(full.stdout)["result_counts"]["passed"] == 4  # type: ignore[index]
    assert cli("evals", "run", "pinned", timeout=120).returncode == 0

    drift = cli("evals", "run", "drift", timeout=120, check=False)
    assert drift.returncode == 1
    assert "1 of 2 pinned samples drifted: sample 2: output 'sea', pinned 'sky'" in drift.stderr

    run_a, run_b = _run_id(smoke.stderr), _run_id(full.stderr)
    shown = cli("evals", "show", run_a).stdout
    assert f"Run {run_a}" in shown and ": completed" in shown
    assert "samples 4: passed 3, failed 1, errored 0" in shown
    assert "criterion echoed: 3/4 (75%)" in shown
    assert re.search(r"dataset sha256 [0-9a-f]{64} \(4 rows\)", shown)
    assert "fail #2: input {'q': 'sea', 'a': 'sky'} output 'sea'" in shown
    report = json.loads(cli("evals", "show", run_a, "--json").stdout)
    assert report["ids"]["run_id"] == run_a and report["model"]["alias"] == "echo"

    compared = cli("evals", "compare", run_a, run_b).stdout
    assert "4 samples in both" in compared
    assert "criterion echoed: A 75%, B 100%, +25 points" in compared
    assert "sample #2: A fail 'sea', B pass 'sea'" in compared
    assert "sample #0" not in compared


def test_a_bad_or_missing_suite_is_refused_before_anything_runs(
    cli: Cli, berth_env: dict[str, str]
) -> None:
    folder = _suites(Path(berth_env["BERTH_HOME"]))
    (folder / "bad.yaml").write_text(SUITE.replace("  graders:", "  graderz:"))
    done = cli("evals", "run", "bad", check=False)
    assert done.returncode == 1
    assert "bad.yaml" in done.stderr and "line 8, field suite.graderz" in done.stderr
    (folder / "gen.yaml").write_text("kind: echo\ninput: {}\n")
    other = cli("evals", "run", "gen", check=False)
    assert other.returncode == 1 and "field kind: a suite under BERTH_HOME/evals" in other.stderr
    missing = cli("evals", "run", "nightly", check=False)
    assert missing.returncode == 1 and "There is no suite 'nightly'" in missing.stderr
    assert "suites: bad, drift, full, gen, pinned, smoke" in missing.stderr
    wrong_pin = SUITE.replace("  seed: 3", "  seed: 3\n  max_samples: 1") + (
        "  golden:\n    - {index: 3, output_text: ship}\n"
    )
    (folder / "cut.yaml").write_text(wrong_pin)
    cut = cli("evals", "run", "cut", check=False)
    assert cut.returncode == 1 and "suite.golden[0].index: row 3 is not among" in cut.stderr
    assert json.loads(cli("jobs", "ls", "--json").stdout) == []
