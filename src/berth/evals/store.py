"""The eval-store port: evals, their runs and the runs' output items."""

from __future__ import annotations

from typing import Protocol

from berth.evals.records import Eval, EvalRun, OutputItem, RunStatus


class EvalStore(Protocol):
    """Evals, runs and output items; shares the job store's database and lifecycle. Lists
    are by id (creation order) in the order asked, ``after`` a cursor (an id)."""

    async def add_eval(self, record: Eval) -> None:
        """Record a new eval."""
        ...

    async def get_eval(self, eval_id: str) -> Eval:
        """The eval with this id; raises UnknownEval."""
        ...

    async def list_evals(
        self,
        *,
        owner: str | None = None,
        after: str | None = None,
        limit: int = 100,
        newest_first: bool = True,
    ) -> list[Eval]:
        """Evals (of one owner)."""
        ...

    async def update_eval(self, record: Eval) -> None:
        """Write the eval's name and metadata; raises UnknownEval."""
        ...

    async def delete_eval(self, eval_id: str) -> Eval:
        """Forget the eval, its runs and their items; raises UnknownEval."""
        ...

    async def add_run(self, run: EvalRun) -> None:
        """Record a new run (of an eval that exists)."""
        ...

    async def get_run(self, run_id: str) -> EvalRun:
        """The run with this id; raises UnknownEvalRun."""
        ...

    async def list_runs(
        self,
        eval_id: str,
        *,
        status: RunStatus | None = None,
        after: str | None = None,
        limit: int = 100,
        newest_first: bool = True,
    ) -> list[EvalRun]:
        """The eval's runs (in one status)."""
        ...

    async def update_run(self, run: EvalRun) -> None:
        """Write the run's status, job, counts, per-criterion results and error; raises
        UnknownEvalRun."""
        ...

    async def delete_run(self, run_id: str) -> EvalRun:
        """Forget the run and its items; raises UnknownEvalRun."""
        ...

    async def add_item(self, item: OutputItem) -> bool:
        """Record a finished sample; False (and nothing written) if the run has one at that
        index already."""
        ...

    async def get_item(self, item_id: str) -> OutputItem:
        """The output item with this id; raises UnknownOutputItem."""
        ...

    async def list_items(
        self,
        run_id: str,
        *,
        status: str | None = None,
        after: str | None = None,
        limit: int = 100,
        newest_first: bool = True,
    ) -> list[OutputItem]:
        """The run's output items (of one status: ``pass``, ``fail`` or ``error``)."""
        ...

    async def all_items(self, run_id: str) -> list[OutputItem]:
        """Every output item of the run, by index."""
        ...
