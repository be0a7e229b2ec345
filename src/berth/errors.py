"""Every error Berth raises. Each class docstring is its default message.

    BerthError
    ├── ConfigError                 a setting or config file is wrong
    ├── StoreError                  the job store cannot do what was asked
    │   ├── DatabaseURLError        the URL cannot be understood
    │   ├── DatabaseUnreachable     the server or file cannot be opened
    │   ├── SchemaTooNew            the database was migrated by a newer Berth
    │   ├── StoreClosed             the store is not open
    │   └── VectorIndexUnavailable  the database cannot hold vectors (no pgvector, no sqlite-vec)
    ├── JobError                    something about one job
    │   ├── UnknownJob              no job with that id
    │   ├── UnknownKind             no job kind with that name
    │   ├── UnknownArtifact         the job has no file with that name
    │   ├── InvalidJobInput         the input does not fit the kind
    │   │   └── PathNotAllowed      it names a file outside BERTH_HOME and BERTH_DATA_DIRS
    │   ├── LeaseLost               a worker no longer holds the job it reports on
    │   ├── JobCancelled            raised inside a job that was asked to stop
    │   ├── JobTimeout              the job ran past its timeout
    │   ├── GoldenDrift             an eval run's outputs drifted from its pinned goldens
    │   └── WorkerLost              the worker running the job stopped heartbeating
    ├── ModelError                  something about one model
    │   ├── CatalogError            a catalog entry or file is wrong
    │   ├── UnknownModel            no catalog entry with that alias
    │   ├── ModelNotCached          the model's files are not in the cache
    │   ├── ModelCorrupt            a cached file does not match its sha256
    │   ├── DownloadFailed          a pull could not fetch a file
    │   ├── ModelLoadFailed         the runner could not load the model
    │   ├── ModelCrashed            the model's process died with requests in flight
    │   ├── ModelLoading            the model is still loading; try again shortly
    │   ├── MemoryBudgetExceeded    loading would exceed the device's memory budget
    │   └── NetworkForbidden        a model tried to reach the network while Berth is offline
    ├── PoolClosed                  the model pool is not open
    ├── AccessError                 a caller may not do what it asked, now or at all
    │   ├── NotAuthenticated        no API key where one is needed, or a wrong or revoked one
    │   ├── PermissionDenied        the key lacks the scope or the model
    │   └── RateLimited             the key is over its request rate or its concurrent jobs
    │       └── TooManyJobs         a submit would pass the owner's limit of unfinished jobs
    ├── ApiKeyError                 something about managing one API key
    │   ├── UnknownApiKey           no key with that id or name
    │   └── ApiKeyNameTaken         an active key already has that name
    ├── NotFound                    the thing a request names does not exist (404)
    │   ├── UnknownFile             no uploaded file with that id
    │   ├── UnknownEval             no eval with that id
    │   ├── UnknownEvalRun          no eval run with that id (in that eval)
    │   └── UnknownOutputItem       no output item with that id (in that run)
    │   ├── UnknownVectorStore      no vector store with that id
    │   ├── UnknownVectorStoreFile  the vector store holds no such file
    │   └── UnknownFileBatch        the vector store has no such file batch
    │   └── UnknownFineTuningJob    no fine-tuning job with that id
    │   └── UnknownToolCall         the agent run made no call with that id waiting for approval
    ├── ToolError                   a tool an agent called did not give a result
    │   ├── UnknownTool             no tool with that name is registered
    │   ├── ToolInputInvalid        the arguments do not match the tool's input schema
    │   ├── ToolTimeout             the tool ran past its timeout and was stopped
    │   ├── ToolFailed              the tool raised (``retryable`` says whether to try again)
    │   ├── CircuitOpen             the tool's circuit breaker is open
    │   └── GuardrailRefused        a guardrail refused the call (allowlist, bounds, budget)
    ├── PluginError                 a plugin failed to load or registered something wrong
    └── InvalidRequest              a caller's input cannot be used (shape, range, format)
        ├── MediaTooLarge           an uploaded file is too big or too long
        ├── UnsupportedMedia        an uploaded file's format cannot be read
        │   └── UnsupportedFile     a file a vector store cannot take the text of
        └── ContextTooLong          a prompt does not fit the model's context
        ├── ContextTooLong          a prompt does not fit the model's context
        ├── InvalidTrainingData     a training or validation file cannot be trained on
        └── FineTuningStateError    the fine-tuning job's status does not allow the action

Raise them with a message that says what happened and what to do; keep the cause with
``raise ... from exc``.
"""

from __future__ import annotations


class BerthError(Exception):
    """Berth failed."""

    def __init__(self, message: str | None = None) -> None:
        self.message = message or (self.__doc__ or type(self).__name__).strip()
        super().__init__(self.message)


class ConfigError(BerthError):
    """Berth's configuration is invalid."""


class StoreError(BerthError):
    """The job store failed."""


class DatabaseURLError(StoreError):
    """The database URL is not one Berth understands. Use sqlite:///PATH or postgresql://..."""


class DatabaseUnreachable(StoreError):
    """The database cannot be reached. Check BERTH_DATABASE_URL and that the server runs."""


class SchemaTooNew(StoreError):
    """The database was migrated by a newer Berth. Upgrade Berth to use it."""


class StoreClosed(StoreError):
    """The job store is closed. Open it (``async with store``) before using it."""


class VectorIndexUnavailable(StoreError):
    """The database cannot hold vectors: PostgreSQL needs the pgvector extension, SQLite the
    sqlite-vec package."""


class JobError(BerthError):
    """A job failed."""


class UnknownJob(JobError):
    """No job has that id. List jobs with `berth jobs ls`."""


class UnknownKind(JobError):
    """No job kind has that name."""


class UnknownArtifact(JobError):
    """The job has no artifact with that name."""


class InvalidJobInput(JobError):
    """The job's input does not fit its kind."""


class PathNotAllowed(InvalidJobInput):
    """The input names a file outside BERTH_HOME and BERTH_DATA_DIRS. Move it there, or upload
    it through /v1/files."""


class LeaseLost(JobError):
    """This worker no longer holds the job: its lease expired and it went back to the queue."""


class JobCancelled(JobError):
    """The job was cancelled."""


class GoldenDrift(JobError):
    """The run's outputs drifted from the goldens it pins; its report lists each sample."""


class JobTimeout(JobError):
    """The job ran past its timeout."""


class WorkerLost(JobError):
    """The worker running the job stopped heartbeating (it crashed or lost the database)."""


class ModelError(BerthError):
    """A model failed."""


class CatalogError(ModelError):
    """The model catalog is invalid."""


class UnknownModel(ModelError):
    """No model in the catalog has that alias. List them with `berth models ls`."""


class ModelNotCached(ModelError):
    """The model's files are not in the cache. Pull them with `berth models pull ALIAS`."""


class ModelCorrupt(ModelError):
    """A cached model file does not match its sha256. Pull it again."""


class DownloadFailed(ModelError):
    """A model file could not be downloaded."""


class ModelLoadFailed(ModelError):
    """The model could not be loaded."""


class ModelCrashed(ModelError):
    """The model's process died while it was working; it will be loaded again on demand."""


class ModelLoading(ModelError):
    """The model is still loading. Try again in a few seconds."""


class QueueFull(ModelError):
    """Too many requests wait for the model already. Try again in a few seconds."""


class MemoryBudgetExceeded(ModelError):
    """Loading the model would exceed the device's memory budget."""


class NetworkForbidden(ModelError):
    """Berth is offline: models may not reach the network. Pull their files first with
    `berth models pull ALIAS`, or set BERTH_OFFLINE=0."""


class PoolClosed(BerthError):
    """The model pool is closed."""


class AccessError(BerthError):
    """Access was refused."""


class NotAuthenticated(AccessError):
    """Send an API key as `Authorization: Bearer <key>`; make one with `berth keys create`."""


class PermissionDenied(AccessError):
    """The API key may not do this. Create a key with the scope or model it needs."""


class RateLimited(AccessError):
    """The API key is over its rate limit. Retry after the time in the Retry-After header."""

    def __init__(self, message: str | None = None, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TooManyJobs(RateLimited):
    """The owner already has its most jobs queued or running. Retry when one has finished."""

    def __init__(self, unfinished: int, limit: int, *, retry_after: int = 5) -> None:
        super().__init__(
            f"It has {unfinished} jobs queued or running, its limit is {limit}. Retry when "
            "one has finished, or cancel one.",
            retry_after=retry_after,
        )
        self.unfinished, self.limit = unfinished, limit
        """Whole seconds until a retry can succeed."""


class ApiKeyError(BerthError):
    """An API key could not be managed."""


class UnknownApiKey(ApiKeyError):
    """No API key has that id or name. List them with `berth keys ls`."""


class ApiKeyNameTaken(ApiKeyError):
    """An active API key already has that name. Pick another, or revoke the old key first."""


class NotFound(BerthError):
    """What the request names does not exist. New kinds of records raise a subclass (404)."""


class UnknownFile(NotFound):
    """No file has that id. List them with GET /v1/files."""


class UnknownEval(NotFound):
    """No eval has that id. List them with GET /v1/evals."""


class UnknownEvalRun(NotFound):
    """No eval run has that id. List an eval's runs with GET /v1/evals/{eval_id}/runs."""


class UnknownOutputItem(NotFound):
    """No output item has that id in this run."""


class UnknownVectorStore(NotFound):
    """No vector store has that id."""


class UnknownVectorStoreFile(NotFound):
    """The vector store holds no file with that id."""


class UnknownFileBatch(NotFound):
    """The vector store has no file batch with that id."""


class UnknownFineTuningJob(NotFound):
    """No fine-tuning job has that id. List them with GET /v1/fine_tuning/jobs."""


class ToolError(BerthError):
    """A tool did not give a result."""


class UnknownTool(ToolError):
    """No tool has that name. List the registered ones with `berth agents tools`."""


class ToolInputInvalid(ToolError):
    """The arguments do not match the tool's input schema. Fix the argument named."""


class ToolTimeout(ToolError):
    """The tool ran past its timeout and was stopped. Raise its timeout or make it faster."""


class ToolFailed(ToolError):
    """The tool failed."""

    def __init__(self, message: str | None = None, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class CircuitOpen(ToolError):
    """The tool failed too often and its circuit breaker is open. Wait, then try again."""


class GuardrailRefused(ToolError):
    """A guardrail refused the call. Change the arguments or the agent's guardrails."""


class UnknownToolCall(NotFound):
    """The agent run has no call with that id. GET /v1/agents/runs/{id} lists its calls."""


class PluginError(BerthError):
    """A plugin failed to load."""


class InvalidRequest(BerthError):
    """The request is invalid."""


class MediaTooLarge(InvalidRequest):
    """An uploaded file is over the size or length Berth accepts. Send a smaller one."""


class UnsupportedMedia(InvalidRequest):
    """An uploaded file is not in a format Berth can read."""


class UnsupportedFile(UnsupportedMedia):
    """Berth cannot read the text of this file (text, Markdown and PDF it can)."""


class ContextTooLong(InvalidRequest):
    """The prompt does not fit the model's context. Shorten it or lower max_tokens."""


class InvalidTrainingData(InvalidRequest):
    """A training or validation file cannot be trained on. Fix the line named and upload it
    again."""


class FineTuningStateError(InvalidRequest):
    """The fine-tuning job's status does not allow this. Retrieve the job to see its status."""
