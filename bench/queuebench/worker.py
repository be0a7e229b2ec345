"""Entry point of the worker processes: ``bench/queue.py _worker SYSTEM URL FOLDER ...``."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from .subject import WorkerArgs


def _parse(argv: Sequence[str]) -> WorkerArgs:
    parser = argparse.ArgumentParser(prog="queue.py _worker")
    parser.add_argument("system", choices=["berth", "huey", "procrastinate"])
    parser.add_argument("url")
    parser.add_argument("folder", type=Path)
    parser.add_argument("--concurrency", type=int, required=True)
    parser.add_argument("--huey-delays", default="0.1,10,1.15")
    args = parser.parse_args(argv)
    initial, most, backoff = (float(part) for part in args.huey_delays.split(","))
    return WorkerArgs(
        args.system, args.url, args.folder, args.concurrency, (initial, most, backoff)
    )


def _server(system: str) -> Callable[[WorkerArgs], None]:
    if system == "berth":
        from .berth_queue import serve as serve_berth

        return serve_berth
    if system == "huey":
        from .huey_queue import serve as serve_huey

        return serve_huey
    from .procrastinate_queue import serve as serve_procrastinate

    return serve_procrastinate


def run_worker(argv: Sequence[str]) -> int:
    """Run one worker until SIGTERM (or until the benchmark that started it goes away)."""
    args = _parse(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    _server(args.system)(args)
    return 0
