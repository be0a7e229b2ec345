"""Fine-tuning benchmark: training tokens per second through a Berth ``fine-tune`` job
against the same LoRA training loop (PEFT on transformers) run directly, on a small Llama
built here (random weights, CPU).

Both runs train the same examples with the same seed and steps and write one checkpoint at
the end. The direct run is timed from the trainer's first step to its saved checkpoint; the
job from its "Training started" event to its "completed" event (so the job's extra cost is
the events, progress, checkpoint records and publishing the model, not model loading); the
in-process Berth runs at its default settings.
Then a fine-tune on a real ``berth worker`` is killed with SIGKILL past a checkpoint and a
second worker resumes it: the time from the kill to training again (see recovery.py).
Prints a table, then one JSON object with every figure as its last line::

    .venv/bin/python bench/finetune.py            # 200 steps
    .venv/bin/python bench/finetune.py --quick    # 40 steps
"""

from __future__ import annotations

import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent


def main() -> int:
    # Run as a script, this folder heads sys.path and bench/queue.py would shadow ``queue``.
    sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != BENCH_DIR]
    sys.path.insert(0, str(BENCH_DIR.parent))
    from bench.finetunebench.run import run

    return run(sys.argv[1:])


if __name__ == "__main__":
    raise SystemExit(main())
