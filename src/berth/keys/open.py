"""The key store that goes with a job store: same database, or the fake beside the fake."""

from __future__ import annotations

from berth import errors
from berth.jobs.memory import MemoryJobStore
from berth.jobs.sql import SqlJobStore
from berth.jobs.store import JobStore
from berth.keys.memory import MemoryKeyStore
from berth.keys.sql import SqlKeyStore
from berth.keys.store import KeyStore


def key_store_for(jobs: JobStore) -> KeyStore:
    """The key store sharing ``jobs``' database; usable while ``jobs`` is open."""
    if isinstance(jobs, SqlJobStore):
        return SqlKeyStore(jobs.database)
    if isinstance(jobs, MemoryJobStore):
        return MemoryKeyStore()
    raise errors.ConfigError(
        f"Berth has no API key store for the job store at {jobs.url}. "
        "Use a sqlite:///, postgresql:// or memory:// database URL."
    )
