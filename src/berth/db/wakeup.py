"""Wake idle dispatchers on this machine the moment work arrives, without polling.

Each listening dispatcher binds a Unix datagram socket in Linux's abstract namespace and leaves
a marker file named after it in a folder beside the database; whoever makes work available
sends one byte to every marker's socket. Markers whose socket is gone (a crashed process) are
removed by the next sender. Where abstract sockets are not available, dispatchers fall back on
polling, which is slower but correct.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import socket
from pathlib import Path

from berth.ids import new_id

log = logging.getLogger(__name__)


class SocketWakeup:
    """Cross-process wake-ups for processes that share one SQLite file."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder
        self._namespace = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:16]
        self._sock: socket.socket | None = None
        self._marker: Path | None = None
        self._event: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._unsupported = not hasattr(socket, "AF_UNIX")

    def _address(self, name: str) -> str:
        return f"\0berth-{self._namespace}-{name}"

    def notify(self) -> None:
        """Wake every listener (thread-safe; never raises)."""
        if self._unsupported:
            return
        try:
            names = os.listdir(self._folder)
        except FileNotFoundError:
            return
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
            sender.setblocking(False)
            for name in names:
                self._send(sender, name)

    def _send(self, sender: socket.socket, name: str) -> None:
        try:
            sender.sendto(b"!", self._address(name))
        except BlockingIOError:
            pass  # the listener's buffer is full: it has wake-ups waiting already
        except (ConnectionRefusedError, FileNotFoundError):
            with contextlib.suppress(FileNotFoundError):
                (self._folder / name).unlink()
        except OSError as exc:
            log.debug("wake-up failed", extra={"action": "wakeup.error", "error": str(exc)})

    def _listen(self) -> asyncio.Event:
        loop = asyncio.get_running_loop()
        if self._event is not None and self._loop is loop:
            return self._event
        self._event, self._loop = asyncio.Event(), loop
        name = new_id()
        try:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            sock.bind(self._address(name))
        except OSError as exc:
            log.info(
                "no wake-up sockets here; polling",
                extra={"action": "wakeup.unsupported", "error": str(exc)},
            )
            self._unsupported = True
            return self._event
        sock.setblocking(False)
        self._folder.mkdir(parents=True, exist_ok=True)
        self._marker = self._folder / name
        self._marker.touch()
        self._sock = sock
        loop.add_reader(sock.fileno(), self._drain)
        return self._event

    def _drain(self) -> None:
        assert self._sock is not None
        assert self._event is not None
        with contextlib.suppress(BlockingIOError):
            while True:
                self._sock.recv(64)
        self._event.set()

    async def wait(self, timeout: float) -> bool:
        """Wait for a wake-up or the timeout; True if woken."""
        event = self._listen()
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            return False
        finally:
            event.clear()
        return True

    def close(self) -> None:
        """Stop listening and remove this listener's marker."""
        if self._sock is not None:
            if self._loop is not None and not self._loop.is_closed():
                self._loop.remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None
        if self._marker is not None:
            with contextlib.suppress(FileNotFoundError):
                self._marker.unlink()
            self._marker = None
        self._event = self._loop = None
