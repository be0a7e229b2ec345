"""The key store on the job store's SQL database (SQLAlchemy Core, table ``berth_api_keys``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from berth import errors
from berth.db.database import Database
from berth.db.schema import api_keys
from berth.keys.key import ApiKey, Scope


def key_from_row(row: Mapping[Any, Any]) -> ApiKey:
    """An :class:`ApiKey` from a ``berth_api_keys`` row."""
    models = row["models"]
    return ApiKey(
        id=row["id"],
        name=row["name"],
        prefix=row["prefix"],
        secret_hash=row["secret_hash"],
        scopes=frozenset(Scope(name) for name in row["scopes"]),
        created_at=row["created_at"],
        models=tuple(models) if models is not None else None,
        rate_per_minute=row["rate_per_minute"],
        max_jobs=row["max_jobs"],
        last_used_at=row["last_used_at"],
        revoked_at=row["revoked_at"],
    )


def row_from_key(key: ApiKey) -> dict[str, Any]:
    """The ``berth_api_keys`` row of a key."""
    return {
        "id": key.id,
        "name": key.name,
        "prefix": key.prefix,
        "secret_hash": key.secret_hash,
        "scopes": sorted(scope.value for scope in key.scopes),
        "models": list(key.models) if key.models is not None else None,
        "rate_per_minute": key.rate_per_minute,
        "max_jobs": key.max_jobs,
        "created_at": key.created_at,
        "last_used_at": key.last_used_at,
        "revoked_at": key.revoked_at,
    }


class SqlKeyStore:
    """A :class:`~berth.keys.store.KeyStore` sharing the job store's :class:`Database`."""

    def __init__(self, database: Database) -> None:
        self._db = database

    async def add(self, key: ApiKey) -> None:
        def add(conn: sa.Connection) -> None:
            taken = conn.execute(
                sa.select(api_keys.c.id).where(
                    api_keys.c.name == key.name, api_keys.c.revoked_at.is_(None)
                )
            ).first()
            if taken is not None:
                raise errors.ApiKeyNameTaken(
                    f"An active API key is already named '{key.name}'. Pick another name, or "
                    f"revoke that key first (`berth keys revoke {key.name}`)."
                )
            conn.execute(api_keys.insert().values(row_from_key(key)))

        await self._db.transaction(add)

    def _get(self, conn: sa.Connection, key_id: str) -> ApiKey:
        row = conn.execute(sa.select(api_keys).where(api_keys.c.id == key_id)).first()
        if row is None:
            raise errors.UnknownApiKey(f"No API key has the id '{key_id}'.")
        return key_from_row(row._mapping)

    async def get(self, key_id: str) -> ApiKey:
        return await self._db.transaction(lambda conn: self._get(conn, key_id), safe=True)

    async def with_prefix(self, prefix: str) -> list[ApiKey]:
        statement = sa.select(api_keys).where(api_keys.c.prefix == prefix)
        rows = await self._db.transaction(lambda conn: conn.execute(statement).all(), safe=True)
        return [key_from_row(row._mapping) for row in rows]

    async def list_keys(self) -> list[ApiKey]:
        statement = sa.select(api_keys).order_by(api_keys.c.created_at, api_keys.c.id)
        rows = await self._db.transaction(lambda conn: conn.execute(statement).all(), safe=True)
        return [key_from_row(row._mapping) for row in rows]

    async def revoke(self, key_id: str, at: float) -> ApiKey:
        def revoke(conn: sa.Connection) -> ApiKey:
            key = self._get(conn, key_id)
            if key.revoked:
                return key
            conn.execute(api_keys.update().where(api_keys.c.id == key_id).values(revoked_at=at))
            return self._get(conn, key_id)

        return await self._db.transaction(revoke, safe=True)

    async def touch(self, key_id: str, at: float) -> None:
        statement = api_keys.update().where(api_keys.c.id == key_id).values(last_used_at=at)
        await self._db.transaction(lambda conn: conn.execute(statement), safe=True)
