"""The baseline: the model called directly, in this process and in a fresh one."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from typing import Any

from bench.poolbench.workload import model_dir, sentences

RSS_SCRIPT = """
import json, psutil
from sentence_transformers import SentenceTransformer
model = SentenceTransformer({path!r}, device="cpu", local_files_only=True)
model.encode(["warm-up sentence"], convert_to_numpy=True)
print(json.dumps({{"rss": psutil.Process().memory_info().rss}}))
"""


def load_model() -> Any:
    import transformers
    from sentence_transformers import SentenceTransformer

    transformers.utils.logging.disable_progress_bar()
    model = SentenceTransformer(model_dir(), device="cpu", local_files_only=True)
    model.encode(sentences(8), convert_to_numpy=True)
    return model


def throughput(model: Any, batch_size: int, seconds: float) -> float:
    """Sentences per second calling ``encode`` on consecutive batches for ``seconds``."""
    corpus = sentences()
    done, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        first = done % len(corpus)
        batch = corpus[first : first + batch_size]
        model.encode(batch, batch_size=batch_size, convert_to_numpy=True)
        done += len(batch)
    return done / elapsed


def sweep(
    model: Any, batch_sizes: tuple[int, ...], rounds: int, seconds: float
) -> dict[int, float]:
    """The median throughput at each batch size over ``rounds`` passes through all of them
    (passes, not repeats in a row, so that background load spreads over every size)."""
    runs: dict[int, list[float]] = {size: [] for size in batch_sizes}
    throughput(model, max(batch_sizes), 1.0)
    for _ in range(rounds):
        for size in batch_sizes:
            runs[size].append(throughput(model, size, seconds))
    found = {size: statistics.median(rates) for size, rates in runs.items()}
    for size, rate in found.items():
        print(f"  direct, batch {size:>3}: {rate:7.1f} sentences/s", file=sys.stderr)
    return found


def fresh_process_rss() -> int:
    """RSS of a new Python process that loads the model and embeds one sentence."""
    done = subprocess.run(
        [sys.executable, "-c", RSS_SCRIPT.format(path=model_dir())],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    rss: int = json.loads(done.stdout.strip().splitlines()[-1])["rss"]
    return rss
