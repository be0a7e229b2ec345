"""Job-queue benchmark: Berth against procrastinate (PostgreSQL) and huey (SQLite).

Measures no-op jobs per second and submit-to-start latency (burst and idle queue) for each
system, database and worker count, prints a table, and prints one JSON object with every
figure as its last line. Run it from the repository root::

    .venv/bin/python bench/queue.py            # the full run (a few minutes)
    .venv/bin/python bench/queue.py --quick    # a smoke run of a few hundred jobs

``bench/queue.py _worker ...`` is the entry point of the worker processes it starts.
See bench/README.md for the definitions and the latest results.
"""

from __future__ import annotations

import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent


def _fix_import_path() -> None:
    # Run as a script, this file's folder heads sys.path, and this file (queue.py) would
    # shadow the standard library's ``queue`` for everything imported after it.
    sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != BENCH_DIR]
    sys.path.insert(0, str(BENCH_DIR.parent))


def main() -> int:
    _fix_import_path()
    argv = sys.argv[1:]
    if argv[:1] == ["_worker"]:
        from bench.queuebench.worker import run_worker

        return run_worker(argv[1:])
    from bench.queuebench.cli import run

    return run(argv)


if __name__ == "__main__":
    raise SystemExit(main())
