"""The model process: what runs inside each model's child process.

The parent starts it with the spawn method and one end of a pipe. The main thread reads work
from the pipe and queues it for the runner thread, which loads the model, runs the batches in
order and writes the answers back. When the pipe closes (the pool asked it to stop, or the
server died) the runner is closed and the process exits, returning all its memory.

It ignores SIGINT and SIGTERM: Ctrl-C in a terminal and service managers signal the whole
process group, and the server must be able to drain its running jobs on its models before
the pool closes them. SIGKILL still ends it (the pool then reports a crash).
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import threading
import traceback
from multiprocessing.connection import Connection

from berth import errors
from berth.models import offline
from berth.pool.runnerthread import RunnerThread
from berth.pool.wire import Cancel, Chunks, Done, Failed, LoadFailed, LoadOrder, Message, Work

STOP = None
"""What the parent sends to ask the model process to finish its work and exit."""


def main(conn: Connection, order: LoadOrder) -> None:
    """The model process's entry point."""
    for ignored in (signal.SIGINT, signal.SIGTERM):
        signal.signal(ignored, signal.SIG_IGN)
    sender = Sender(conn)
    threads = order.spec.options.cpu_threads  # several workers share them (pool.workers)
    if threads is not None:
        # Read once by OpenMP/MKL when torch or numpy first loads, usually after this;
        # the runner thread sets torch's count again once the model is loaded.
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            os.environ[name] = str(threads)
    try:
        offline.enforce(order.offline)
    except Exception as exc:
        sender(LoadFailed(exc))
        return
    runner = RunnerThread(order, sender)
    runner.start()
    try:
        while (work := _receive(conn)) is not STOP:
            if isinstance(work, Cancel):
                runner.cancel(work)
            else:
                runner.submit(work)
    finally:
        runner.stop()
        runner.join()


def _receive(conn: Connection) -> Work | Cancel | None:
    try:
        work: Work | Cancel | None = conn.recv()
    except (EOFError, OSError):
        return STOP
    return work


class Sender:
    """Writes runner messages to the pipe, turning what cannot be pickled into errors."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._lock = threading.Lock()

    def __call__(self, message: Message) -> None:
        if isinstance(message, Failed | LoadFailed):
            message = message._replace(error=portable(message.error))
        try:
            payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            payload = pickle.dumps(_unpicklable(message, exc))
        with self._lock, contextlib.suppress(OSError):
            self._conn.send_bytes(payload)


def _unpicklable(message: Message, exc: Exception) -> Message:
    error = errors.ModelError(
        f"The runner's output cannot be sent back from the model process: {exc}. Runners "
        "must return picklable values (plain data, numpy arrays, bytes)."
    )
    if isinstance(message, Done | Chunks):
        return Failed(message.batch_id, error)
    return LoadFailed(error)


def portable(error: BaseException) -> BaseException:
    """``error`` with the model process's traceback as a note, or a ModelError saying the
    same if the error itself cannot be pickled."""
    trace = "".join(traceback.format_exception(error)).rstrip()
    try:
        error.add_note(f"In the model process:\n{trace}")
        pickle.loads(pickle.dumps(error))
    except Exception:
        return errors.ModelError(f"{type(error).__name__}: {error}\n{trace}")
    return error
