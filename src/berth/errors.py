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
    │   ├── InvalidJobInput         the input does not fit the kind
    │   ├── LeaseLost               a worker no longer holds the job it reports on
    │   ├── JobCancelled            raised inside a job that was asked to stop
    │   ├── JobTimeout              the job ran past its timeout
    │   └── WorkerLost              the worker running the job stopped heartbeating
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


class PluginError(BerthError):
    """A plugin failed to load."""


class InvalidRequest(BerthError):
    """The request is invalid."""
