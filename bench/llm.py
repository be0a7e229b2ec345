"""LLM streaming benchmark: tokens/s and time to first token streamed through ``berth serve``
against the same model's ``generate`` in this process, at 1 and 8 concurrent streams.

    .venv/bin/python bench/llm.py              # about 2-3 minutes
    .venv/bin/python bench/llm.py --help

See bench/README.md for what is measured and the latest results.
"""

from __future__ import annotations

import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent


def main() -> int:
    # Run as a script, this folder heads sys.path and bench/queue.py would shadow ``queue``.
    sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != BENCH_DIR]
    sys.path.insert(0, str(BENCH_DIR.parent))
    from bench.llmbench.cli import run

    return run(sys.argv[1:])


if __name__ == "__main__":
    raise SystemExit(main())
