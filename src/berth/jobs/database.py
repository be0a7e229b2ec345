"""A SQL database for the job store: its engine, its thread pool, its schema and its errors.

Each adapter supplies a :class:`SqlDialect` (what differs between databases); a
:class:`Database` runs transactions on a small thread pool so the event loop never blocks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, TypeVar

import sqlalchemy as sa

from berth import errors
from berth.jobs import migrate

T = TypeVar("T")
MAX_GROUP = 256


class SqlDialect(Protocol):
    """What differs between SQL databases."""

    name: str
    threads: int
    group_commit: bool
    """Whether concurrent calls may share one transaction. Only safe where a transaction
    holds the whole database (SQLite): elsewhere rows locked in call order can deadlock."""

    def create_engine(self) -> sa.Engine: ...

    def insert(self, table: sa.Table) -> Any:
        """An INSERT construct that supports ``on_conflict_do_nothing``."""
        ...

    def lock(self, select: sa.Select[Any]) -> sa.Select[Any]:
        """The select, locking the rows it returns for this transaction."""
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
        self._pending: list[tuple[Callable[[sa.Connection], Any], asyncio.Future[Any]]] = []
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
        try:
            with engine.connect() as conn:
                conn.execute(sa.select(sa.literal(1)))
        except sa.exc.DBAPIError as exc:
            engine.dispose()
            raise errors.DatabaseUnreachable(
                f"Cannot open the job store at {self.url}: {first_line(exc.orig)}. "
                "Check BERTH_DATABASE_URL and that the database server is running."
            ) from exc
        return engine

    def _connect(self) -> sa.Engine:
        engine = self._reach()
        try:
            migrate.ensure(engine, self.url, self.dialect.name, allow_upgrade=self._upgrade)
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

    async def transaction(self, fn: Callable[[sa.Connection], T]) -> T:
        """Run ``fn`` in a transaction on the thread pool, committed with other pending calls.

        Calls that arrive while a transaction runs are queued and run together in the next one
        (group commit), which saves a commit and a thread hop per call. ``fn`` may raise a
        BerthError only before it writes (the others in its transaction still commit); any
        other error rolls back the whole group and reaches every caller in it.
        """
        if self._engine is None or self._executor is None:
            raise errors.StoreClosed(f"The job store at {self.url} is closed.")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append((fn, future))
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
                calls = [fn for fn, _ in batch]
                try:
                    outcomes = await loop.run_in_executor(executor, self._run_group, engine, calls)
                except BaseException as exc:
                    outcomes = [exc] * len(batch)
                for (_, future), outcome in zip(batch, outcomes, strict=True):
                    if future.done():
                        continue
                    if isinstance(outcome, BaseException):
                        future.set_exception(outcome)
                    else:
                        future.set_result(outcome.value)
        finally:
            self._flushers -= 1

    def _run_group(
        self, engine: sa.Engine, calls: list[Callable[[sa.Connection], Any]]
    ) -> list[_Done | BaseException]:
        outcomes: list[_Done | BaseException] = []
        try:
            with engine.begin() as conn:
                for fn in calls:
                    try:
                        outcomes.append(_Done(fn(conn)))
                    except errors.BerthError as exc:
                        outcomes.append(exc)
        except sa.exc.OperationalError as exc:
            raise errors.StoreError(
                f"The job store at {self.url} failed: {first_line(exc.orig)}."
            ) from exc
        return outcomes


class _Done:
    """A call's result, told apart from an exception."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def first_line(exc: BaseException | None) -> str:
    """The first line of an exception's message."""
    text = str(exc).strip() if exc is not None else "unknown error"
    return text.splitlines()[0] if text else type(exc).__name__
