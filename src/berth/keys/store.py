"""The key-store port: the narrow interface every adapter (SQLite, PostgreSQL, memory) offers.

A key store has no lifecycle of its own: it shares the job store's database (or, for the
fake, lives as long as the process), so it works while the job store is open.
"""

from __future__ import annotations

from typing import Protocol

from berth.keys.key import ApiKey


class KeyStore(Protocol):
    """Where API keys live."""

    async def add(self, key: ApiKey) -> None:
        """Store a new key; raises ApiKeyNameTaken if an unrevoked key has its name."""
        ...

    async def get(self, key_id: str) -> ApiKey:
        """The key with this id, revoked or not; raises UnknownApiKey."""
        ...

    async def with_prefix(self, prefix: str) -> list[ApiKey]:
        """Every key, revoked or not, whose secret starts with ``prefix`` (usually one)."""
        ...

    async def list_keys(self) -> list[ApiKey]:
        """Every key, revoked ones included, oldest first."""
        ...

    async def revoke(self, key_id: str, at: float) -> ApiKey:
        """Mark the key revoked at ``at`` unless it already is; return it. Raises UnknownApiKey."""
        ...

    async def touch(self, key_id: str, at: float) -> None:
        """Record that the key was used at ``at``; an unknown id is ignored."""
        ...
