"""A SQL database for the job store: its engine, its thread pool, its schema and its errors.

Each adapter supplies a :class:`SqlDialect` (what differs between databases); a
:class:`Database` runs transactions on a small thread pool so the event loop never blocks.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, TypeVar

import sqlalchemy as sa

from berth import errors
from berth.db import migrate

log = logging.getLogger(__name__)
T = TypeVar("T")
MAX_GROUP = 256
BUSY_RETRIES = 8
"""Times a transaction that found the database busy is tried again (SQLite's own busy wait
has already run out each time), ..."""
BUSY_BACKOFF = (0.05, 2.0)
"""... after a pause that starts at the first figure, doubles up to the second, with jitter."""


class SqlDialect(Protocol):
    """What differs between SQL databases."""

    name: str
    threads: int
    group_commit: bool
    """Whether concurrent calls may share one transaction. Only safe where a transaction
    holds the whole database (SQLite): elsewhere rows locked in call order can deadlock."""

    def create_engine(self) -> sa.Engine: ...

    def is_busy(self, error: sa.exc.DBAPIError) -> bool:
        """Whether ``error`` says another writer holds the database (try again later)."""
        ...

    def insert(self, table: sa.Table) -> Any:
        """An INSERT construct that supports ``on_conflict_do_nothing``."""
        ...

    def lock(self, select: sa.Select[Any]) -> sa.Select[Any]:
        """The select, locking the rows it returns for this transaction."""
        ...

    def serialize(self, conn: sa.Connection, name: str) -> None:
        """Hold, until this transaction ends, a lock that only one transaction at a time can
        hold for ``name`` (so a count and the insert it allows are one step)."""
        ...

    def notify(self, conn: sa.Connection) -> None:
        """Called inside a transaction that makes work available."""
        ...

    def after_commit(self) -> None:
        """Called after a transaction that made work available has committed."""
        ...

    async def wait_for_work(self, timeout: float) -> bool: ...

    async def close(self) -> None: ...


class Database:
    """An engine and its thread pool, opened and closed explicitly."""

    def __init__(self, dialect: SqlDialect, url: str, *, upgrade: bool = True) -> None:
        self.dialect = dialect
        self.url = url
        self._upgrade = upgrade
        self._engine: sa.Engine | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._pending: list[_Call] = []
        self._flushers = 0
        self._flush_tasks: set[asyncio.Task[None]] = set()

    @property
    def is_open(self) -> bool:
        return self._engine is not None

    async def open(self) -> None:
        """Connect, check the schema (migrating it if allowed) and start the thread pool."""
        self._executor = ThreadPoolExecutor(self.dialect.threads, thread_name_prefix="berth-db")
        loop = asyncio.get_running_loop()
        try:
            self._engine = await loop.run_in_executor(self._executor, self._connect)
        except BaseException:
            self._executor.shutdown(wait=False)
            self._executor = None
            raise

    async def close(self) -> None:
        if self._flush_tasks:
            await asyncio.wait(self._flush_tasks)
        await self.dialect.close()
        engine, executor = self._engine, self._executor
        self._engine, self._executor = None, None
        if engine is not None:
            engine.dispose()
        if executor is not None:
            executor.shutdown(wait=True)

    def _reach(self) -> sa.Engine:
        engine = self.dialect.create_engine()

        def probe() -> None:
            with engine.connect() as conn:
                conn.execute(sa.select(sa.literal(1)))

        try:
            self._when_free(probe, "open")
        except sa.exc.DBAPIError as exc:
            engine.dispose()
            raise errors.DatabaseUnreachable(
                f"Cannot open the job store at {self.url}: {first_line(exc.orig)}. "
                "Check BERTH_DATABASE_URL and that the database server is running."
            ) from exc
        return engine

    def _when_free(self, fn: Callable[[], T], doing: str) -> T:
        """``fn()``, run again after a pause while it finds the database busy."""
        for attempt in range(BUSY_RETRIES):
            try:
                return fn()
            except sa.exc.DBAPIError as exc:
                if not self.dialect.is_busy(exc):
                    raise
                self._busy_pause(attempt, doing)
        return fn()

    def _busy_pause(self, attempt: int, doing: str) -> None:
        low, high = BUSY_BACKOFF
        pause = min(high, low * 2**attempt) * random.uniform(0.5, 1.5)
        log.info(
            "the database is busy; trying again",
            extra={"action": "db.busy", "doing": doing, "attempt": attempt + 1, "pause": pause},
        )
        time.sleep(pause)

    def _connect(self) -> sa.Engine:
        engine = self._reach()
        try:
            self._when_free(
                lambda: migrate.ensure(
                    engine, self.url, self.dialect.name, allow_upgrade=self._upgrade
                ),
                "check the schema",
            )
        except BaseException:
            engine.dispose()
            raise
        return engine

    def upgrade_schema(self) -> tuple[str | None, str]:
        """Migrate the database to the newest schema now; return (before, after) revisions."""
        engine = self._reach()
        try:
            return migrate.upgrade(engine, self.url, self.dialect.name)
        finally:
            engine.dispose()

    async def transaction(self, fn: Callable[[sa.Connection], T], *, safe: bool = False) -> T:
        """Run ``fn`` in a transaction on the thread pool, committed with other pending calls.

        Calls that arrive while a transaction runs are queued and run together in the next one
        (group commit), which saves a commit and a thread hop per call. ``fn`` may raise a
        BerthError only before it writes (the others in its transaction still commit); any
        other error rolls back the whole group and reaches every caller in it.

        A transaction that finds the database busy (another process writing past SQLite's
        busy wait) is run again after a jittered pause, up to ``BUSY_RETRIES`` times. One whose
        connection drops (a restarted or terminated server) is run again once on a fresh
        connection if it had not yet asked to commit, or if it is ``safe``: a read, or a write
        that gives the same outcome twice (an idempotent submit, a cancel, a heartbeat).
        """
        if self._engine is None or self._executor is None:
            raise errors.StoreClosed(f"The job store at {self.url} is closed.")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append(_Call(fn, future, safe))
        if self._flushers < self.dialect.threads:
            self._flushers += 1
            task = asyncio.create_task(self._flush(self._engine, self._executor))
            self._flush_tasks.add(task)
            task.add_done_callback(self._flush_tasks.discard)
        result: T = await future
        return result

    async def _flush(self, engine: sa.Engine, executor: ThreadPoolExecutor) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                size = MAX_GROUP if self.dialect.group_commit else 1
                batch = self._pending[:size]
                del self._pending[:size]
                try:
                    outcomes = await loop.run_in_executor(executor, self._run_group, engine, batch)
                except BaseException as exc:
                    outcomes = [exc] * len(batch)
                for call, outcome in zip(batch, outcomes, strict=True):
                    if call.future.done():
                        continue
                    if isinstance(outcome, BaseException):
                        call.future.set_exception(outcome)
                    else:
                        call.future.set_result(outcome.value)
        finally:
            self._flushers -= 1

    def _run_group(self, engine: sa.Engine, calls: list[_Call]) -> list[_Done | BaseException]:
        """The group's outcomes, trying again when the database was busy or the connection
        dropped where that is safe (see :meth:`transaction`)."""
        reconnected = False
        for attempt in range(BUSY_RETRIES + 1):
            try:
                return self._run_once(engine, calls)
            except _Failed as failed:
                exc = failed.error
                if self.dialect.is_busy(exc) and attempt < BUSY_RETRIES:
                    self._busy_pause(attempt, "write")
                    continue
                retry = not failed.committing or all(call.safe for call in calls)
                if exc.connection_invalidated and retry and not reconnected:
                    reconnected = True
                    log.warning(
                        "lost the database connection; trying again on a new one",
                        extra={"action": "db.reconnect", "error": first_line(exc.orig)},
                    )
                    continue
                raise errors.StoreError(
                    f"The job store at {self.url} failed: {first_line(exc.orig)}."
                ) from exc
        raise AssertionError("unreachable")

    def _run_once(self, engine: sa.Engine, calls: list[_Call]) -> list[_Done | BaseException]:
        outcomes: list[_Done | BaseException] = []
        committing = False
        try:
            with engine.connect() as conn, conn.begin() as transaction:
                for call in calls:
                    try:
                        outcomes.append(_Done(call.fn(conn)))
                    except errors.BerthError as exc:
                        outcomes.append(exc)
                committing = True
                transaction.commit()
        except sa.exc.DBAPIError as exc:
            if isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError) or (
                exc.connection_invalidated
            ):
                raise _Failed(exc, committing) from exc
            raise
        return outcomes


class _Call:
    """One caller's transaction function, its future, and whether running it twice is safe."""

    __slots__ = ("fn", "future", "safe")

    def __init__(self, fn: Callable[[sa.Connection], Any], future: asyncio.Future[Any], safe: bool):
        self.fn, self.future, self.safe = fn, future, safe


class _Failed(Exception):
    """A transaction's database error, and whether it came while committing."""

    def __init__(self, error: sa.exc.DBAPIError, committing: bool) -> None:
        super().__init__(str(error))
        self.error, self.committing = error, committing


class _Done:
    """A call's result, told apart from an exception."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def first_line(exc: BaseException | None) -> str:
    """The first line of an exception's message."""
    text = str(exc).strip() if exc is not None else "unknown error"
    return text.splitlines()[0] if text else type(exc).__name__
