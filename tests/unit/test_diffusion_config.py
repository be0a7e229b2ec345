"""A ``train`` run file is checked before anything runs: a bad field is refused naming the
file, its line and the field; a good one reads back as the kind's config."""

from __future__ import annotations

from pathlib import Path

import pytest

from berth import errors
from berth.cli.runfile import load
from berth.training.diffusion_config import TrainConfig

pytestmark = pytest.mark.unit

GOOD = """\
kind: train
model: tiny-sd
input:
  job_name: cats
  datasets:
    - folder_path: data/cats
      caption_ext: txt
      resolution: 64
  network: {type: lora, rank: 4, alpha: 4}
  train:
    steps: 100
    lr: 1.0e-4
    batch_size: 2
    seed: 3
  save_every: 25
  sample_every: 50
  sample: {prompts: ["a cat"], steps: 4}
"""


def test_a_good_train_file_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "train.yaml"
    path.write_text(GOOD)
    spec = load(path)
    config = TrainConfig.model_validate(spec.input)
    assert (spec.kind, spec.model) == ("train", "tiny-sd")
    assert config.datasets[0].resolution == 64 and config.train.steps == 100
    assert config.network.rank == 4 and config.sample.prompts == ["a cat"]


@pytest.mark.parametrize(
    ("old", "new", "where"),
    [
        ("    steps: 100", "    stepz: 100", "line 11, field input.train.stepz: Extra inputs"),
        (
            "      resolution: 64",
            "      resolution: 65",
            "line 8, field input.datasets.0.resolution",
        ),
        ("rank: 4", "rank: 0", "line 9, field input.network.rank"),
        ("save_every: 25", "save_every: 0", "line 15, field input.save_every"),
    ],
)
def test_a_bad_field_is_refused_with_file_line_and_field(
    tmp_path: Path, old: str, new: str, where: str
) -> None:
    path = tmp_path / "train.yaml"
    path.write_text(GOOD.replace(old, new))
    with pytest.raises(errors.InvalidRequest) as caught:
        load(path)
    assert caught.value.message.startswith(f"{path}, {where}")
