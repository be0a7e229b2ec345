"""The process transport: each loaded model in its own child process (spawn start method).

Unloading is the process's exit, so all of its memory comes back. Batches go down a pipe as
pickles; a reader thread takes the answers and hands them to the event loop. When the
process dies unasked, its in-flight batches fail with ModelCrashed and ``on_exit`` tells the
pool, which loads the model again on the next request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import pickle
import signal
import threading
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from berth import errors
from berth.pool import child
from berth.pool import device as devices
from berth.pool.batcher import Batch
from berth.pool.transport import InFlight, OnExit, consume, route
from berth.pool.wire import Cancel, LoadOrder, LoadReport, Message

log = logging.getLogger(__name__)
STOP_SECONDS = 30.0
"""How long a model process may take to finish its work and exit before it is killed."""
CRASH_SECONDS = 5.0
"""How long a model process whose pipe broke may take to exit before it is killed."""
_SPAWN = multiprocessing.get_context("spawn")


def describe_exit(code: int | None) -> str:
    """How a process ended, in words: ``was killed by SIGKILL``, ``exited with code 3``."""
    if code is None:
        return "stopped answering"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hint = " (the system may have run out of memory)" if name == "SIGKILL" else ""
        return f"was killed by {name}{hint}"
    return f"exited with code {code}"


class ProcessTransport:
    """A model served by a child process."""

    def __init__(self, order: LoadOrder, on_exit: OnExit) -> None:
        self._order = order
        self._on_exit = on_exit
        self._alias = order.spec.alias
        self._in_flight = InFlight()
        self._process: BaseProcess | None = None
        self._pid: int | None = None
        self._conn: Connection | None = None
        self._reader: threading.Thread | None = None
        self._loaded: asyncio.Future[LoadReport] | None = None
        self._report: LoadReport | None = None
        self._closing = False
        self._ending: asyncio.Task[None] | None = None
        self._crash: errors.ModelCrashed | None = None

    @property
    def pid(self) -> int | None:
        return self._pid

    async def open(self) -> LoadReport:
        loop = asyncio.get_running_loop()
        self._loaded = loop.create_future()
        self._loaded.add_done_callback(consume)
        self._check_picklable()
        parent, child_end = _SPAWN.Pipe()
        process = _SPAWN.Process(
            target=child.main,
            args=(child_end, self._order),
            name=f"berth-model-{self._alias}",
            daemon=True,
        )
        try:
            await asyncio.to_thread(process.start)
        except BaseException:
            parent.close()
            raise
        finally:
            child_end.close()
        self._process, self._conn, self._pid = process, parent, process.pid
        self._reader = threading.Thread(
            target=self._read, args=(loop, parent), name=f"berth-pipe-{self._alias}", daemon=True
        )
        self._reader.start()
        try:
            self._report = await asyncio.shield(self._loaded)
        except BaseException:
            await self.close()
            raise
        return self._report

    def send(self, batch: Batch) -> None:
        if self._crash is not None or self._conn is None or self._closing:
            batch.fail(self._crash or errors.PoolClosed(f"Model '{self._alias}' is unloaded."))
            return
        work = self._in_flight.add(batch, self._cancel)
        try:
            payload = pickle.dumps(work, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            self._in_flight.fail(work.batch_id, self._unpicklable(exc))
            return
        with contextlib.suppress(OSError):
            self._conn.send_bytes(payload)

    def _cancel(self, message: Cancel) -> None:
        if self._conn is not None and not self._closing:
            with contextlib.suppress(OSError):
                self._conn.send_bytes(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))

    def memory_bytes(self) -> int:
        report, pid = self._report, self.pid
        if report is None or pid is None:
            return 0
        if report.runner_bytes is not None:
            return report.runner_bytes
        device = self._order.device
        if device == devices.CPU:
            return devices.process_rss(pid) or 0
        return max(report.cuda_reserved or 0, devices.process_gpu_bytes(pid, device) or 0)

    async def close(self) -> None:
        if self._closing:
            if self._ending is not None:
                await asyncio.shield(self._ending)
            return
        self._closing = True
        if self._conn is not None:
            with contextlib.suppress(OSError):
                self._conn.send_bytes(pickle.dumps(child.STOP))
        await self._reap(STOP_SECONDS)
        self._in_flight.fail_all(errors.PoolClosed(f"Model '{self._alias}' was unloaded."))

    async def _reap(self, patience: float) -> int | None:
        """Wait up to ``patience`` seconds for the process to exit (then kill it), let the
        reader finish, and release the pipe and the process; the exit code."""
        process, reader = self._process, self._reader
        if process is None:
            return None
        await asyncio.to_thread(process.join, patience)
        if process.exitcode is None:
            log.warning(
                "model process did not stop; killing it",
                extra={"action": "pool.kill", "model": self._alias, "pid": self._pid},
            )
            process.kill()
            await asyncio.to_thread(process.join)
        if reader is not None:
            await asyncio.to_thread(reader.join)
        code = process.exitcode
        if self._conn is not None:
            self._conn.close()
        process.close()
        self._process = self._conn = self._reader = None
        return code

    def _check_picklable(self) -> None:
        try:
            pickle.dumps(self._order)
        except Exception as exc:
            raise errors.ModelLoadFailed(
                f"Model '{self._alias}' cannot run in a model process: its runner "
                f"'{self._order.spec.runner}' cannot be sent there ({exc}). A runner's create "
                "function must be importable at module level; or set transport = 'thread'."
            ) from exc

    def _unpicklable(self, exc: Exception) -> errors.InvalidRequest:
        return errors.InvalidRequest(
            f"Inputs for model '{self._alias}' cannot be sent to its process: {exc}. Inputs "
            "must be picklable (plain data, numpy arrays, bytes)."
        )

    def _read(self, loop: asyncio.AbstractEventLoop, conn: Connection) -> None:
        """The reader thread: pipe to event loop, until the pipe closes."""
        try:
            while True:
                message: Message = pickle.loads(conn.recv_bytes())
                loop.call_soon_threadsafe(self._receive, message)
        except (EOFError, OSError):
            pass
        except RuntimeError:
            return
        except Exception:
            log.exception(
                "unreadable message from a model process",
                extra={"action": "pool.bad_message", "model": self._alias, "pid": self._pid},
            )
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(self._pipe_closed)

    def _receive(self, message: Message) -> None:
        route(message, self._loaded, self._order, self._in_flight)

    def _pipe_closed(self) -> None:
        """The pipe closed: the process ended. Unasked, that is a crash."""
        if not self._closing:
            self._closing = True
            self._ending = asyncio.create_task(self._crashed(), name=f"berth-ended-{self._alias}")

    async def _crashed(self) -> None:
        how = describe_exit(await self._reap(CRASH_SECONDS))
        loaded = self._loaded
        if loaded is None or not loaded.done():
            if loaded is not None:
                loaded.set_exception(
                    errors.ModelLoadFailed(
                        f"Model '{self._alias}' could not be loaded: its process {how} while "
                        "loading. Check the server's log and the model's files."
                    )
                )
            return
        if loaded.exception() is not None:
            return
        self._crash = errors.ModelCrashed(
            f"Model '{self._alias}' crashed: its process (pid {self._pid}) {how}. Requests in "
            "flight failed; the next request loads the model again."
        )
        log.error(
            "model process crashed",
            extra={"action": "pool.crashed", "model": self._alias, "pid": self._pid, "how": how},
        )
        self._in_flight.fail_all(self._crash)
        self._on_exit(self._crash)
