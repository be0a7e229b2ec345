"""The worker processes of one measurement, started together and always stopped.

Each worker runs ``bench/queue.py _worker ...`` in a session of its own, its stderr in a log
file in the measurement's scratch folder. Stopping sends SIGTERM (the workers drain and exit),
then SIGKILL to the process group of any worker still alive after the grace period.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from .errors import BenchError
from .gate import GO, READY

QUEUE_SCRIPT = Path(__file__).resolve().parent.parent / "queue.py"
REPO_ROOT = QUEUE_SCRIPT.parent.parent
READY_TIMEOUT_S = 60.0
STOP_GRACE_S = 20.0


class Worker:
    """One worker process and the task that reads its stdout."""

    def __init__(self, process: asyncio.subprocess.Process, log: Path) -> None:
        self.process = process
        self.log = log
        self.ready = asyncio.Event()
        self.reader: asyncio.Task[None] | None = None

    def tail(self, lines: int = 15) -> str:
        """The end of the worker's log, to explain a failure."""
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:]) or "(empty log)"

    def died(self) -> str | None:
        """Why the worker is gone, or None while it runs."""
        code = self.process.returncode
        if code is None:
            return None
        return f"worker {self.process.pid} exited with {code}; its log ends:\n{self.tail()}"


class WorkerGroup:
    """``count`` workers run with ``argv``; ``async with`` starts them and waits until ready."""

    def __init__(
        self, argv: list[str], count: int, folder: Path, on_line: Callable[[str], None]
    ) -> None:
        self._argv = argv
        self._count = count
        self._folder = folder
        self._on_line = on_line
        self._workers: list[Worker] = []

    async def __aenter__(self) -> Self:
        try:
            for index in range(self._count):
                self._workers.append(await self._spawn(index))
            await self._wait_ready()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def _spawn(self, index: int) -> Worker:
        log = self._folder / f"worker-{index}.log"
        with _open_log(log) as stderr:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                str(QUEUE_SCRIPT),
                "_worker",
                *self._argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=stderr,
                cwd=REPO_ROOT,
                start_new_session=True,
            )
        worker = Worker(process, log)
        worker.reader = asyncio.create_task(self._read(worker))
        return worker

    async def _read(self, worker: Worker) -> None:
        assert worker.process.stdout is not None
        async for raw in worker.process.stdout:
            line = raw.decode().strip()
            if line == READY:
                worker.ready.set()
            elif line:
                self._on_line(line)

    async def _wait_ready(self) -> None:
        deadline = asyncio.get_running_loop().time() + READY_TIMEOUT_S
        for worker in self._workers:
            while not worker.ready.is_set():
                self.check()
                if asyncio.get_running_loop().time() > deadline:
                    raise BenchError(f"A worker was not ready in {READY_TIMEOUT_S:g} s.")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(worker.ready.wait(), 0.1)

    async def go(self) -> None:
        """Tell every worker to start, as close to the same moment as possible."""
        for worker in self._workers:
            assert worker.process.stdin is not None
            worker.process.stdin.write(f"{GO}\n".encode())
        for worker in self._workers:
            assert worker.process.stdin is not None
            await worker.process.stdin.drain()

    def check(self) -> None:
        """Raise if any worker has died."""
        for worker in self._workers:
            if reason := worker.died():
                raise BenchError(reason)

    async def stop(self) -> None:
        """SIGTERM every worker, wait for them to exit, SIGKILL the stragglers' groups."""
        alive = [w for w in self._workers if w.process.returncode is None]
        for worker in alive:
            with contextlib.suppress(ProcessLookupError):
                worker.process.send_signal(signal.SIGTERM)
        waits = [asyncio.create_task(w.process.wait()) for w in alive]
        if waits:
            _, pending = await asyncio.wait(waits, timeout=STOP_GRACE_S)
            for worker in alive:
                if worker.process.returncode is None:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(worker.process.pid, signal.SIGKILL)
            await asyncio.gather(*pending, return_exceptions=True)
        readers = [w.reader for w in self._workers if w.reader is not None]
        await asyncio.gather(*readers, return_exceptions=True)
        for worker in self._workers:
            if worker.process.stdin is not None:
                worker.process.stdin.close()


@contextlib.contextmanager
def _open_log(path: Path) -> Iterator[IO[bytes]]:
    with path.open("wb") as handle:
        yield handle
