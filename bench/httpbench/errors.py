"""Why a system could not be measured. Each error ends its system's row, not the run.

BenchError
├── ServerFailed      the server exited, or never answered its readiness check
├── WrongAnswer       the server answered, but not with one 384-dimensional embedding
├── LoadFailed        wrk failed, or every request it sent failed
└── SetupFailed       a peer's virtual environment could not be built
"""

from __future__ import annotations


class BenchError(Exception):
    """A system could not be measured."""


class ServerFailed(BenchError):
    """The server exited or did not become ready."""


class WrongAnswer(BenchError):
    """The server did not answer with one embedding of the model's size."""


class LoadFailed(BenchError):
    """The load generator failed."""


class SetupFailed(BenchError):
    """A peer's environment could not be installed."""
