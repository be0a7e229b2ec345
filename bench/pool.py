"""Model-pool benchmark: all-MiniLM-L6-v2 called directly in-process against Berth's pool.

Measures sentences per second and per-call latency through the pool (process transport, with
batching) for 1, 8, 32 and 64 concurrent callers, against the same model called directly at
its best batch size; cold load against warm call latency; and the resident memory of a model
process against a plain Python process holding the same model. Prints a table, the targets,
and one JSON object with every figure as its last line. Run it from the repository root::

    .venv/bin/python bench/pool.py             # the full run (about two minutes)
    .venv/bin/python bench/pool.py --quick     # a smoke run (about half a minute)

See bench/README.md for the definitions and the latest results.
"""

from __future__ import annotations

import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent


def _fix_import_path() -> None:
    # Run as a script, this file's folder heads sys.path, and bench/queue.py would shadow the
    # standard library's ``queue`` (which the pool uses) for everything imported after it.
    sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != BENCH_DIR]
    sys.path.insert(0, str(BENCH_DIR.parent))


def main() -> int:
    _fix_import_path()
    from bench.poolbench.cli import run

    return run(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
