"""An in-memory key store: the fake for tests, passing the same contract suite as the SQL one.

It forgets everything when the process ends; never use it for real keys.
"""

from __future__ import annotations

import dataclasses

from berth import errors
from berth.keys.key import ApiKey


class MemoryKeyStore:
    """Keys in a dict, by id."""

    def __init__(self) -> None:
        self._keys: dict[str, ApiKey] = {}

    async def add(self, key: ApiKey) -> None:
        if any(old.name == key.name and not old.revoked for old in self._keys.values()):
            raise errors.ApiKeyNameTaken(
                f"An active API key is already named '{key.name}'. Pick another name, or "
                f"revoke that key first (`berth keys revoke {key.name}`)."
            )
        self._keys[key.id] = key

    async def get(self, key_id: str) -> ApiKey:
        try:
            return self._keys[key_id]
        except KeyError:
            raise errors.UnknownApiKey(f"No API key has the id '{key_id}'.") from None

    async def with_prefix(self, prefix: str) -> list[ApiKey]:
        return [key for key in self._keys.values() if key.prefix == prefix]

    async def list_keys(self) -> list[ApiKey]:
        return sorted(self._keys.values(), key=lambda key: (key.created_at, key.id))

    async def revoke(self, key_id: str, at: float) -> ApiKey:
        key = await self.get(key_id)
        if not key.revoked:
            key = dataclasses.replace(key, revoked_at=at)
            self._keys[key_id] = key
        return key

    async def touch(self, key_id: str, at: float) -> None:
        key = self._keys.get(key_id)
        if key is not None:
            self._keys[key_id] = dataclasses.replace(key, last_used_at=at)
