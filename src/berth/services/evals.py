"""Evals as callers see them (OpenAI's Evals API), with the rules applied here whichever entry
point calls: an eval's data source config and testing criteria are checked when it is made
(templates against the item schema, judge models against the catalog and the caller's key); a
run's data source before its job is queued (its file exists, is the caller's and holds evals
rows; its model is in the catalog, allowed for the key and answers chat). A run is an ``eval``
job; its status is the job's, in the Evals API's words. A key sees only its own evals unless
it holds ``admin``; without a key (loopback) every one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jsonschema  # type: ignore[import-untyped]

from berth import errors
from berth.clock import Clock, SystemClock
from berth.evals import template
from berth.evals.compare import Comparison, compare
from berth.evals.golden import Golden
from berth.evals.graders import Criterion, criteria_of
from berth.evals.records import (
    EVAL_ID_PREFIX,
    RUN_ID_PREFIX,
    Eval,
    EvalRun,
    OutputItem,
    RunStatus,
    counts_of,
    usage_of,
)
from berth.evals.sources import Completions, FileContent, FileId, data_source_of
from berth.evals.store import EvalStore
from berth.files.file import Purpose
from berth.ids import new_id
from berth.jobs.job import Job, JobStatus
from berth.keys.key import ApiKey
from berth.models.manifest import Manifest
from berth.models.spec import ModelSpec
from berth.services.files import FileService
from berth.services.jobs import JobService, ModelGate, only_owner
from berth.tasks.generate import GENERATE

MAX_LIST = 100
MAX_METADATA = 16
RUN_STATUS = {
    JobStatus.RUNNING: RunStatus.IN_PROGRESS,
    JobStatus.SUCCEEDED: RunStatus.COMPLETED,
    JobStatus.FAILED: RunStatus.FAILED,
    JobStatus.CANCELLED: RunStatus.CANCELED,
}


def check_metadata(metadata: Any) -> dict[str, str]:
    """OpenAI's metadata: at most 16 string pairs, keys up to 64 and values up to 512 long."""
    if metadata is None:
        return {}
    if not isinstance(metadata, dict) or len(metadata) > MAX_METADATA:
        raise errors.InvalidRequest("metadata: give an object of at most 16 string pairs.")
    for key, value in metadata.items():
        if not isinstance(value, str) or len(key) > 64 or len(value) > 512:
            raise errors.InvalidRequest(
                f"metadata.{key}: keys are up to 64 characters, values strings up to 512."
            )
    return dict(metadata)


def item_fields(config: dict[str, Any]) -> frozenset[str] | None:
    properties = config.get("item_schema", {}).get("properties")
    return frozenset(properties) if isinstance(properties, dict) and properties else None


def check_config(config: Any) -> dict[str, Any]:
    """A ``custom`` data source config with a valid ``item_schema``."""
    kind = config.get("type") if isinstance(config, dict) else None
    if kind != "custom":
        raise errors.InvalidRequest(
            f"data_source_config.type: {kind!r} is not one Berth keeps; use custom, with an "
            "item_schema (JSON Schema) describing each row's item."
        )
    schema = config.get("item_schema")
    if not isinstance(schema, dict):
        raise errors.InvalidRequest("data_source_config.item_schema: give a JSON Schema object.")
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise errors.InvalidRequest(
            f"data_source_config.item_schema: not a JSON Schema ({exc.message})."
        ) from None
    include = config.get("include_sample_schema", False)
    if not isinstance(include, bool):
        raise errors.InvalidRequest("data_source_config.include_sample_schema: true or false.")
    return {"type": "custom", "item_schema": schema, "include_sample_schema": include}


class EvalService:
    """The rules of evals and their runs (see the module doc)."""

    def __init__(
        self,
        store: EvalStore,
        jobs: JobService,
        files: FileService,
        models: ModelGate,
        *,
        clock: Clock | None = None,
        manifests: Callable[[ModelSpec], Manifest | None] | None = None,
    ) -> None:
        self.store = store
        self.jobs = jobs
        self.files = files
        self.models = models
        self.clock = clock or SystemClock()
        self.manifests = manifests

    def model_facts(self, alias: str) -> dict[str, Any]:
        """What a run's report records of its model: alias, source, the revision and file
        hashes of its cache manifest (else the catalog's hashes)."""
        spec = self.models.catalog_entry(alias)
        manifest = self.manifests(spec) if self.manifests is not None else None
        files = dict(spec.sha256)
        revision = None
        if manifest is not None:
            files = {name: record.sha256 for name, record in manifest.files.items()}
            revision = manifest.revision
        return {"alias": alias, "source": spec.source, "revision": revision, "files": files}

    # -- evals -----------------------------------------------------------------------------

    async def create(
        self,
        caller: ApiKey | None,
        *,
        data_source_config: Any,
        testing_criteria: Any,
        name: str | None = None,
        metadata: Any = None,
    ) -> Eval:
        """Check and record a new eval."""
        config = check_config(data_source_config)
        criteria = criteria_of(testing_criteria)
        fields = item_fields(config)
        for index, criterion in enumerate(criteria):
            self._check_criterion(caller, criterion, f"testing_criteria[{index}]", fields)
        record = Eval(
            id=new_id(EVAL_ID_PREFIX),
            name=(name or "eval")[:255],
            data_source_config=config,
            testing_criteria=list(testing_criteria),
            created_at=self.clock.now(),
            metadata=check_metadata(metadata),
            owner=caller.id if caller is not None else None,
        )
        await self.store.add_eval(record)
        return record

    def _check_criterion(
        self,
        caller: ApiKey | None,
        criterion: Criterion,
        where: str,
        fields: frozenset[str] | None,
    ) -> None:
        for name, text in criterion.templates().items():
            template.check(text, f"{where}.{name}", fields)
        for alias, task in criterion.models():
            self.models.model(caller, alias, task)

    async def get(self, caller: ApiKey | None, eval_id: str) -> Eval:
        """The eval; UnknownEval (404) also for another key's eval."""
        found = await self.store.get_eval(eval_id)
        owner = only_owner(caller)
        if owner is not None and found.owner != owner:
            raise errors.UnknownEval(f"No eval has the id '{eval_id}'.")
        return found

    async def list_evals(
        self, caller: ApiKey | None, *, after: str | None, limit: int, newest_first: bool
    ) -> list[Eval]:
        """The caller's evals; asks for one more than ``limit`` is fine (for has_more)."""
        _check_limit(limit)
        return await self.store.list_evals(
            owner=only_owner(caller), after=after, limit=limit, newest_first=newest_first
        )

    async def update(
        self, caller: ApiKey | None, eval_id: str, *, name: str | None, metadata: Any
    ) -> Eval:
        """Rename the eval or replace its metadata."""
        found = await self.get(caller, eval_id)
        changed = dataclasses.replace(
            found,
            name=found.name if name is None else name[:255],
            metadata=found.metadata if metadata is None else check_metadata(metadata),
        )
        await self.store.update_eval(changed)
        return changed

    async def delete(self, caller: ApiKey | None, eval_id: str) -> Eval:
        """Forget the eval and its runs (cancelling the unfinished ones)."""
        found = await self.get(caller, eval_id)
        for run in await self.store.list_runs(eval_id, limit=10_000):
            if not run.status.terminal and run.job_id is not None:
                await self.jobs.cancel(None, run.job_id)
        return await self.store.delete_eval(found.id)

    # -- runs ------------------------------------------------------------------------------

    async def create_run(
        self,
        caller: ApiKey | None,
        eval_id: str,
        *,
        data_source: Any,
        name: str | None = None,
        metadata: Any = None,
        priority: int = 0,
        golden: list[Golden] | None = None,
    ) -> EvalRun:
        """Check the data source and queue the run's job (which holds the run to ``golden``,
        outputs pinned for its seed)."""
        found = await self.get(caller, eval_id)
        source = data_source_of(data_source)
        await self._check_source(caller, found, source)
        for criterion in criteria_of(found.testing_criteria):
            for alias, task in criterion.models():
                self.models.model(caller, alias, task)
        model = source.model if isinstance(source, Completions) else None
        run = EvalRun(
            id=new_id(RUN_ID_PREFIX),
            eval_id=found.id,
            name=(name or f"{found.name} run")[:255],
            data_source=data_source,
            status=RunStatus.QUEUED,
            created_at=self.clock.now(),
            model=model,
            metadata=check_metadata(metadata),
            owner=caller.id if caller is not None else None,
        )
        params: dict[str, Any] = {"run_id": run.id}
        if model is not None:
            params["model_facts"] = self.model_facts(model)
        if golden:
            params["golden"] = [g.model_dump(exclude_none=True) for g in golden]
        await self.store.add_run(run)
        try:
            submitted = await self.jobs.submit(
                caller, "eval", params, model=model, priority=priority
            )
        except BaseException:
            await self.store.delete_run(run.id)
            raise
        queued = dataclasses.replace(run, job_id=submitted.job.id)
        await self.store.update_run(queued)
        return queued

    async def _check_source(self, caller: ApiKey | None, found: Eval, source: Any) -> None:
        if isinstance(source.source, FileId):
            stored = await self.files.get(caller, source.source.id)
            if stored.purpose is not Purpose.EVALS:
                raise errors.InvalidRequest(
                    f"data_source.source.id: file '{stored.id}' was uploaded for "
                    f"'{stored.purpose.value}'; upload the rows with purpose 'evals'."
                )
        elif isinstance(source.source, FileContent):
            self._check_rows(found, source.source)
        if isinstance(source, Completions):
            self.models.model(caller, source.model, GENERATE)
            fields = item_fields(found.data_source_config)
            for name, text in source.templates().items():
                template.check(text, f"data_source.{name}", fields)

    def _check_rows(self, found: Eval, content: FileContent) -> None:
        validator = jsonschema.Draft202012Validator(found.data_source_config["item_schema"])
        for index, row in enumerate(content.content):
            problem = jsonschema.exceptions.best_match(validator.iter_errors(row.item))
            if problem is not None:
                where = ".".join(str(p) for p in problem.absolute_path)
                raise errors.InvalidRequest(
                    f"data_source.source.content[{index}].item{'.' + where if where else ''}: "
                    f"{problem.message} (the eval's item_schema)."
                )

    async def get_run(self, caller: ApiKey | None, eval_id: str, run_id: str) -> EvalRun:
        """The run, its status brought up to date with its job's."""
        await self.get(caller, eval_id)
        run = await self.store.get_run(run_id)
        if run.eval_id != eval_id:
            raise errors.UnknownEvalRun(f"Eval '{eval_id}' has no run with the id '{run_id}'.")
        return await self._current(run)

    async def find_run(self, caller: ApiKey | None, run_id: str) -> EvalRun:
        """The run by its id alone (whichever eval it belongs to), brought up to date."""
        try:
            run = await self.store.get_run(run_id)
        except errors.UnknownEvalRun:
            raise errors.UnknownEvalRun(
                f"No eval run has the id '{run_id}'. List an eval's runs with "
                "GET /v1/evals/{eval_id}/runs."
            ) from None
        return await self.get_run(caller, run.eval_id, run.id)

    async def _current(self, run: EvalRun) -> EvalRun:
        """``run`` as its job stands: status from the job, counts from the items so far."""
        if run.job_id is None or run.status.terminal:
            return run
        job = await self.jobs.get(None, run.job_id)
        status = self._status(job, run)
        items = await self.store.all_items(run.id)
        criteria = [
            str(c.get("name")) for c in (await self.store.get_eval(run.eval_id)).testing_criteria
        ]
        counts, per = counts_of(items, criteria)
        error = None
        if status is RunStatus.FAILED and job.error is not None:
            error = {"code": job.error.type, "message": job.error.message}
        current = dataclasses.replace(
            run, status=status, result_counts=counts, per_testing_criteria_results=per,
            error=error, per_model_usage=usage_of(items),
        )  # fmt: skip
        if status.terminal:
            await self.store.update_run(current)
        return current

    @staticmethod
    def _status(job: Job, run: EvalRun) -> RunStatus:
        if job.status is JobStatus.QUEUED:
            return RunStatus.IN_PROGRESS if job.attempts > 0 else RunStatus.QUEUED
        if job.status is JobStatus.SUCCEEDED and run.status is not RunStatus.COMPLETED:
            return RunStatus.COMPLETED
        return RUN_STATUS[job.status]

    async def report(
        self, caller: ApiKey | None, eval_id: str, run_id: str
    ) -> dict[str, Any] | None:
        """The finished run's report (its job's result holds it); None before it finishes."""
        run = await self.get_run(caller, eval_id, run_id)
        if run.job_id is None:
            return None
        result = (await self.jobs.get(None, run.job_id)).result
        found = result.get("report") if isinstance(result, dict) else None
        return found if isinstance(found, dict) else None

    async def list_runs(
        self,
        caller: ApiKey | None,
        eval_id: str,
        *,
        status: str | None,
        after: str | None,
        limit: int,
        newest_first: bool,
    ) -> list[EvalRun]:
        """The eval's runs, each brought up to date."""
        await self.get(caller, eval_id)
        _check_limit(limit)
        wanted = _run_status(status)
        runs = await self.store.list_runs(
            eval_id, status=None, after=after, limit=10_000 if wanted else limit,
            newest_first=newest_first,
        )  # fmt: skip
        current = [await self._current(run) for run in runs]
        return [run for run in current if wanted is None or run.status is wanted][:limit]

    async def cancel_run(self, caller: ApiKey | None, eval_id: str, run_id: str) -> EvalRun:
        """Cancel the run's job; the run says canceled (a finished run is left as it is)."""
        run = await self.get_run(caller, eval_id, run_id)
        if run.status.terminal or run.job_id is None:
            return run
        await self.jobs.cancel(None, run.job_id)
        canceled = dataclasses.replace(run, status=RunStatus.CANCELED)
        await self.store.update_run(canceled)
        return canceled

    async def delete_run(self, caller: ApiKey | None, eval_id: str, run_id: str) -> EvalRun:
        """Forget the run and its items (cancelling its job first if it has not ended)."""
        run = await self.cancel_run(caller, eval_id, run_id)
        return await self.store.delete_run(run.id)

    async def compare_runs(
        self, caller: ApiKey | None, run_a: str, run_b: str
    ) -> tuple[EvalRun, EvalRun, Comparison]:
        """Run B against run A (by criterion and by sample), each the caller's."""
        a = await self.find_run(caller, run_a)
        b = await self.find_run(caller, run_b)
        found = compare(a, await self.store.all_items(a.id), b, await self.store.all_items(b.id))
        return a, b, found

    # -- output items ----------------------------------------------------------------------

    async def list_items(
        self,
        caller: ApiKey | None,
        eval_id: str,
        run_id: str,
        *,
        status: str | None,
        after: str | None,
        limit: int,
        newest_first: bool,
    ) -> list[OutputItem]:
        """The run's output items (``pass``, ``fail`` or ``error`` ones only, if asked)."""
        await self.get_run(caller, eval_id, run_id)
        _check_limit(limit)
        if status is not None and status not in ("pass", "fail", "error"):
            raise errors.InvalidRequest(f"status: use pass, fail or error, not {status!r}.")
        return await self.store.list_items(
            run_id, status=status, after=after, limit=limit, newest_first=newest_first
        )

    async def get_item(
        self, caller: ApiKey | None, eval_id: str, run_id: str, item_id: str
    ) -> OutputItem:
        await self.get_run(caller, eval_id, run_id)
        item = await self.store.get_item(item_id)
        if item.run_id != run_id:
            raise errors.UnknownOutputItem(f"Run '{run_id}' has no output item '{item_id}'.")
        return item


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_LIST + 1:
        raise errors.InvalidRequest(f"limit must be between 1 and {MAX_LIST}, not {limit}.")


def _run_status(status: str | None) -> RunStatus | None:
    if status is None:
        return None
    try:
        return RunStatus(status)
    except ValueError:
        known = ", ".join(s.value for s in RunStatus)
        raise errors.InvalidRequest(f"status: use one of {known}, not {status!r}.") from None
