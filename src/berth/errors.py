"""Every error Berth raises. Each class docstring is its default message.

    BerthError
    ├── ConfigError                 a setting or config file is wrong
    ├── StoreError                  the job store cannot do what was asked
    │   ├── DatabaseURLError        the URL cannot be understood
    │   ├── DatabaseUnreachable     the server or file cannot be opened
    │   ├── SchemaTooNew            the database was migrated by a newer Berth
    │   └── StoreClosed             the store is not open
    ├── JobError                    something about one job
    │   ├── UnknownJob              no job with that id
    │   ├── UnknownKind             no job kind with that name
    │   ├── UnknownArtifact         the job has no file with that name
    │   ├── InvalidJobInput         the input does not fit the kind
    │   ├── LeaseLost               a worker no longer holds the job it reports on
    │   ├── JobCancelled            raised inside a job that was asked to stop
    │   ├── JobTimeout              the job ran past its timeout
    │   └── WorkerLost              the worker running the job stopped heartbeating
    ├── ModelError                  something about one model
    │   ├── CatalogError            a catalog entry or file is wrong
    │   ├── UnknownModel            no catalog entry with that alias
    │   ├── ModelNotCached          the model's files are not in the cache
    │   ├── ModelCorrupt            a cached file does not match its sha256
    │   ├── DownloadFailed          a pull could not fetch a file
    │   ├── ModelLoadFailed         the runner could not load the model
    │   ├── ModelCrashed            the model's process died with requests in flight
    │   └── MemoryBudgetExceeded    loading would exceed the device's memory budget
    ├── PoolClosed                  the model pool is not open
    ├── PluginError                 a plugin failed to load or registered something wrong
    └── InvalidRequest              a caller's input cannot be used (shape, range, format)

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


class LeaseLost(JobError):
    """This worker no longer holds the job: its lease expired and it went back to the queue."""


class JobCancelled(JobError):
    """The job was cancelled."""


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


class MemoryBudgetExceeded(ModelError):
    """Loading the model would exceed the device's memory budget."""


class PoolClosed(BerthError):
    """The model pool is closed."""


class PluginError(BerthError):
    """A plugin failed to load."""


class InvalidRequest(BerthError):
    """The request is invalid."""
