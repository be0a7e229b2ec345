"""HTTP embeddings benchmark: Berth, LitServe and Infinity serving all-MiniLM-L6-v2.

Each system runs as its own process on 127.0.0.1, one at a time; wrk sends one sentence per
request at 1, 8, 32 and 64 connections. The same model called directly in this process is
the baseline. Prints a table, the targets, and one JSON object with every figure as its last
line. Run it from the repository root::

    .venv/bin/python bench/http_embeddings.py            # the full run (about 7 minutes)
    .venv/bin/python bench/http_embeddings.py --quick    # a smoke run (about 4 minutes)

``bench/http_embeddings.py _litserve ...`` is the entry point of the LitServe peer.
See bench/README.md for the definitions and the latest results.
"""

from __future__ import annotations

import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent


def _fix_import_path() -> None:
    # Run as a script, this file's folder heads sys.path, and bench/queue.py would shadow the
    # standard library's ``queue`` (which LitServe and torch use) for everything after it.
    sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != BENCH_DIR]
    sys.path.insert(0, str(BENCH_DIR.parent))


def main() -> int:
    _fix_import_path()
    argv = sys.argv[1:]
    if argv[:1] == ["_litserve"]:
        from bench.httpbench.litserve_app import serve

        return serve(argv[1:])
    from bench.httpbench.cli import run

    return run(argv)


if __name__ == "__main__":
    raise SystemExit(main())
