"""The fine-tuning benchmark (see bench/finetune.py)."""

from __future__ import annotations

import asyncio
import io
import json
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.finetunebench.recovery import EVERY, Recovery, figures, kill_and_resume, table
from tests.tiny.causal_lm import CORPUS, build_causal_lm

from berth.app import Berth
from berth.settings import Settings
from berth.training.checkpoints import CheckpointStore
from berth.training.examples import Message
from berth.training.lora import LoraTrainer, TrainingPlan
from berth.training.record import Hyperparameters, LoraOptions

SEED = 5
MODEL = "bench-lm"


def conversations() -> list[list[Message]]:
    return [
        [Message("user", f"Line {i}?"), Message("assistant", text)]
        for i, text in enumerate(CORPUS * 4)
    ]


def options(steps: int) -> tuple[Hyperparameters, LoraOptions]:
    hyper = Hyperparameters(n_epochs=10_000, batch_size=4, learning_rate_multiplier=1.0)
    lora = LoraOptions(rank=8, alpha=16, max_steps=steps, checkpoint_every=steps)
    return hyper, lora


def direct(base: Path, steps: int, folder: Path) -> tuple[float, int]:
    """The loop alone, on a worker thread as in the job: PyTorch's CPU threads behave alike
    there (on a loaded machine the main thread's thread team can be many times slower)."""
    hyper, lora = options(steps)
    trainer = LoraTrainer(TrainingPlan(base, conversations(), (), hyper, lora, SEED))

    def loop() -> float:
        started = time.perf_counter()
        while not trainer.done:
            trainer.train_step()
        CheckpointStore(folder).save(trainer.step, trainer.save)
        return time.perf_counter() - started

    with ThreadPoolExecutor(1) as executor:
        seconds = executor.submit(loop).result()
    return seconds, trainer.trained_tokens


def make_home(base: Path, home: Path) -> None:
    home.mkdir(parents=True)
    (home / "catalog.toml").write_text(
        f'[models.{MODEL}]\ntask = "chat"\nrunner = "transformers"\nsource = "local:{base}"\n'
    )


def lines() -> list[str]:
    return [
        json.dumps({"messages": [{"role": m.role, "content": m.content} for m in c]})
        for c in conversations()
    ]


async def through_a_job(base: Path, steps: int, home: Path) -> tuple[float, int]:
    hyper, lora = options(steps)
    async with Berth(Settings(home=home)) as berth, berth.dispatcher():
        services = berth.services
        data = io.BytesIO(("\n".join(lines()) + "\n").encode())
        stored = await services.files.upload(None, "train.jsonl", "fine-tune", data)
        tune = await services.fine_tuning.create(
            None, model=MODEL, training_file=stored.id, hyperparameters=hyper, lora=lora, seed=SEED
        )
        done = await services.fine_tuning.get(None, tune.id)
        while not done.status.finished:
            await asyncio.sleep(0.1)
            done = await services.fine_tuning.get(None, tune.id)
        assert done.status.value == "succeeded", done.error
        events = await berth.stores.fine_tuning.list_events(tune.id, limit=100_000)
        start = next(e for e in events if e.message.startswith("Training started"))
        end = next(e for e in events if "successfully completed" in e.message)
        return end.created_at - start.created_at, done.trained_tokens or 0


async def recover(base: Path, home: Path) -> Recovery:
    """A run long enough to be killed past its second checkpoint, then resumed."""
    make_home(base, home)
    hyper = Hyperparameters(n_epochs=10_000, batch_size=4, learning_rate_multiplier=1.0)
    lora = LoraOptions(rank=8, alpha=16, max_steps=10 * EVERY, checkpoint_every=EVERY)
    return await kill_and_resume(MODEL, home, lines(), hyper, lora, SEED)


def run(argv: list[str]) -> int:
    steps = 40 if "--quick" in argv else 200
    import torch

    # One math thread for both runs: on a loaded machine PyTorch's CPU thread team makes the
    # same loop many times slower or faster depending on the thread it is stepped from.
    torch.set_num_threads(1)
    rounds = 1 if "--quick" in argv else 2
    direct_runs, job_runs = [], []
    with tempfile.TemporaryDirectory(prefix="berth-finetune-") as temporary:
        root = Path(temporary)
        base = build_causal_lm(root / "model", hidden=128, layers=4, context=256, seed=1)
        for number in range(rounds):
            # Interleaved, best of each: the machine's load changes slower than one round.
            home = root / f"home-{number}"
            make_home(base, home)
            job_runs.append(asyncio.run(through_a_job(base, steps, home)))
            direct_runs.append(direct(base, steps, root / f"direct-{number}"))
        recovery = asyncio.run(recover(base, root / "home-kill"))
    direct_seconds, direct_tokens = min(direct_runs)
    job_seconds, job_tokens = min(job_runs)
    assert direct_tokens == job_tokens, (direct_tokens, job_tokens)
    direct_rate, job_rate = direct_tokens / direct_seconds, job_tokens / job_seconds
    print(f"{'run':<12}{'steps':>8}{'tokens':>10}{'seconds':>10}{'tokens/s':>12}")
    print(f"{'direct':<12}{steps:>8}{direct_tokens:>10}{direct_seconds:>10.2f}{direct_rate:>12.1f}")
    print(f"{'berth job':<12}{steps:>8}{job_tokens:>10}{job_seconds:>10.2f}{job_rate:>12.1f}")
    print(f"job / direct: {job_rate / direct_rate:.3f} (target at least 0.95)")
    print()
    print("\n".join(table(recovery)))
    result = {
        "steps": steps,
        "tokens": job_tokens,
        "rounds": rounds,
        "direct_tokens_per_second": round(direct_rate, 1),
        "job_tokens_per_second": round(job_rate, 1),
        "ratio": round(job_rate / direct_rate, 3),
        **figures(recovery),
    }
    print(json.dumps(result))
    return 0
