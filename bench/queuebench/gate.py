"""The start protocol between the benchmark and its worker processes.

A worker opens its queue, prints ``ready`` on stdout and waits for ``go`` on stdin, so that
every worker of a measurement starts working at the same moment and none of their start-up
is measured. Stdout carries nothing but these protocol lines (and huey's timestamps). When
stdin closes, the benchmark is gone: the worker sends itself SIGTERM and stops as it would
on any SIGTERM.
"""

from __future__ import annotations

import os
import signal
import sys
import threading

READY = "ready"
GO = "go"


def say(line: str) -> None:
    """Print one protocol line; one write, so lines from several threads never interleave."""
    os.write(sys.stdout.fileno(), (line + "\n").encode())


def wait_for_go() -> None:
    """Say ready, block until told to go, then watch for the benchmark going away."""
    say(READY)
    if sys.stdin.readline().strip() != GO:
        raise SystemExit("the benchmark went away before saying go")
    threading.Thread(target=_stop_when_orphaned, name="orphan-watch", daemon=True).start()


def _stop_when_orphaned() -> None:
    while sys.stdin.readline():
        pass
    os.kill(os.getpid(), signal.SIGTERM)
