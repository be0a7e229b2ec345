"""The eval-dataset journal: a line cut short by a crash is ignored (that image is measured
again); the summary counts flags and averages only the numbers present."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from berth.training.diffusion_report import JOURNAL, read_journal, summary

pytestmark = pytest.mark.unit


def test_a_torn_journal_line_is_measured_again(tmp_path: Path) -> None:
    journal = tmp_path / JOURNAL
    journal.write_text(json.dumps({"image": "a.png", "flags": []}) + '\n{"image": "b.p')
    assert list(read_journal(journal)) == ["a.png"]
    assert read_journal(tmp_path / "none.jsonl") == {}


def test_the_summary_averages_what_is_there_and_counts_flags() -> None:
    records = [
        {"loss_with_caption": 1.0, "loss_with_blank": 2.0, "ablation_delta": 1.0, "flags": []},
        {"loss_with_caption": None, "loss_with_blank": 4.0, "ablation_delta": None,
         "flags": ["missing"]},
        {"loss_with_caption": 3.0, "loss_with_blank": 2.0, "ablation_delta": -1.0,
         "flags": ["no_effect"]},
    ]  # fmt: skip
    found = summary(records)
    assert found["mean_loss_with_caption"] == 2.0
    assert found["mean_loss_with_blank"] == pytest.approx(8 / 3)
    assert found["mean_ablation_delta"] == 0.0
    assert found["flagged"] == {"missing": 1, "empty": 0, "no_effect": 1}
