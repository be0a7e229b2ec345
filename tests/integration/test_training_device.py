"""A training run trains on its base model's device: the one the catalog gives the base
(``auto``: the first GPU where there is one), which is also where its memory is reserved; the
LoRA trainer puts its model there."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from berth.app import Berth
from berth.pool import device as devices
from berth.settings import Settings
from berth.training.examples import Message
from berth.training.lora import LoraTrainer, TrainingPlan
from tests.tiny.causal_lm import session_causal_lm

pytestmark = pytest.mark.integration


async def test_a_run_trains_where_the_catalog_puts_its_base(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    base = session_causal_lm(tmp_path_factory)
    home = tmp_path / "home"
    home.mkdir()
    entry = f'task = "chat"\nrunner = "transformers"\nsource = "local:{base}"\n'
    (home / "catalog.toml").write_text(
        f'[models.on-auto]\n{entry}options = {{ device = "auto" }}\n'
        f'[models.on-cpu]\n{entry}options = {{ device = "cpu" }}\n'
        f'[models.on-second-gpu]\n{entry}options = {{ device = "cuda:1" }}\n'
    )
    async with Berth(Settings(home=home)) as berth:
        host = berth.services.fine_tuning
        assert host.device("on-auto") == ("cuda:0" if devices.cuda_count() else "cpu")
        assert host.device("on-cpu") == "cpu"
        assert host.device("on-second-gpu") == "cuda:1"
        plan = TrainingPlan(
            host.base_path("on-cpu"),
            [[Message("user", "hi"), Message("assistant", "there")]],
            device=host.device("on-cpu"),
        )
    assert LoraTrainer(plan).train_step().step == 1
    on_second_gpu = dataclasses.replace(plan, device="cuda:1")
    if devices.cuda_count() < 2:
        # No such GPU here: the trainer goes for the device it is given, not the CPU.
        with pytest.raises((RuntimeError, AssertionError)):
            LoraTrainer(on_second_gpu)
    else:
        placed = {p.device for p in LoraTrainer(on_second_gpu).model.parameters()}
        assert placed == {torch.device("cuda:1")}
