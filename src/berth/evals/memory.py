"""An in-memory eval store: the fake for tests, passing the same contract suite as the SQL one."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol, TypeVar

from berth import errors
from berth.evals.records import Eval, EvalRun, OutputItem, RunStatus


class _HasId(Protocol):
    @property
    def id(self) -> str: ...


R = TypeVar("R", bound=_HasId)


def page(
    found: Iterable[R], keep: Callable[[R], bool], after: str | None, limit: int, newest: bool
) -> list[R]:
    """The records ``keep`` accepts, by id in the order asked, after the cursor ``after``."""
    ordered = sorted(found, key=lambda r: r.id, reverse=newest)
    if after is not None:
        ordered = [r for r in ordered if (r.id < after if newest else r.id > after)]
    return [r for r in ordered if keep(r)][:limit]


def unknown_eval(eval_id: str) -> errors.UnknownEval:
    return errors.UnknownEval(f"No eval has the id '{eval_id}'.")


def unknown_run(run_id: str) -> errors.UnknownEvalRun:
    return errors.UnknownEvalRun(f"No eval run has the id '{run_id}'.")


def unknown_item(item_id: str) -> errors.UnknownOutputItem:
    return errors.UnknownOutputItem(f"No output item has the id '{item_id}'.")


class MemoryEvalStore:
    """Evals, runs and items in dicts, by id."""

    def __init__(self) -> None:
        self._evals: dict[str, Eval] = {}
        self._runs: dict[str, EvalRun] = {}
        self._items: dict[str, OutputItem] = {}

    async def add_eval(self, record: Eval) -> None:
        self._evals[record.id] = record

    async def get_eval(self, eval_id: str) -> Eval:
        try:
            return self._evals[eval_id]
        except KeyError:
            raise unknown_eval(eval_id) from None

    async def list_evals(
        self,
        *,
        owner: str | None = None,
        after: str | None = None,
        limit: int = 100,
        newest_first: bool = True,
    ) -> list[Eval]:
        return page(
            self._evals.values(),
            lambda e: owner is None or e.owner == owner,
            after,
            limit,
            newest_first,
        )

    async def update_eval(self, record: Eval) -> None:
        await self.get_eval(record.id)
        self._evals[record.id] = record

    async def delete_eval(self, eval_id: str) -> Eval:
        found = await self.get_eval(eval_id)
        for run in [r for r in self._runs.values() if r.eval_id == eval_id]:
            await self.delete_run(run.id)
        del self._evals[eval_id]
        return found

    async def add_run(self, run: EvalRun) -> None:
        await self.get_eval(run.eval_id)
        self._runs[run.id] = run

    async def get_run(self, run_id: str) -> EvalRun:
        try:
            return self._runs[run_id]
        except KeyError:
            raise unknown_run(run_id) from None

    async def list_runs(
        self,
        eval_id: str,
        *,
        status: RunStatus | None = None,
        after: str | None = None,
        limit: int = 100,
        newest_first: bool = True,
    ) -> list[EvalRun]:
        return page(
            self._runs.values(),
            lambda r: r.eval_id == eval_id and (status is None or r.status is status),
            after,
            limit,
            newest_first,
        )

    async def update_run(self, run: EvalRun) -> None:
        await self.get_run(run.id)
        self._runs[run.id] = run

    async def delete_run(self, run_id: str) -> EvalRun:
        found = await self.get_run(run_id)
        for item in [i for i in self._items.values() if i.run_id == run_id]:
            del self._items[item.id]
        del self._runs[run_id]
        return found

    async def add_item(self, item: OutputItem) -> bool:
        await self.get_run(item.run_id)
        if any(i.run_id == item.run_id and i.index == item.index for i in self._items.values()):
            return False
        self._items[item.id] = item
        return True

    async def get_item(self, item_id: str) -> OutputItem:
        try:
            return self._items[item_id]
        except KeyError:
            raise unknown_item(item_id) from None

    async def list_items(
        self,
        run_id: str,
        *,
        status: str | None = None,
        after: str | None = None,
        limit: int = 100,
        newest_first: bool = True,
    ) -> list[OutputItem]:
        return page(
            self._items.values(),
            lambda i: i.run_id == run_id and (status is None or i.status == status),
            after,
            limit,
            newest_first,
        )

    async def all_items(self, run_id: str) -> list[OutputItem]:
        return sorted(
            (i for i in self._items.values() if i.run_id == run_id), key=lambda i: i.index
        )
