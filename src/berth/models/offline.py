"""Offline model loading: the hub libraries in offline mode, and a guard that makes any
network connection beyond this machine an error.

Use it around every model load and its inference:

- in a model's own process (the default ``process`` transport), call :func:`enforce` once at
  start-up: it lasts for the life of the process;
- elsewhere, ``with offline_load(settings, scope="thread"):`` guards only the calling thread
  and restores everything when the block ends.

The guard is an audit hook (PEP 578) on Python's socket layer: connections, datagrams and name
lookups are checked before any packet is sent; loopback addresses and unix sockets are allowed.
Native code that opens its own sockets (outside Python's ``socket`` module) is not seen by it,
which is why the hub libraries are also switched to offline mode.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal, Self

from berth import errors
from berth.settings import Settings

Scope = Literal["process", "thread"]
HUB_OFFLINE_VARIABLES = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
"""Set in the model-loading process: huggingface_hub and transformers never try the hub."""

_ADDRESS_EVENTS = frozenset({"socket.connect", "socket.sendto", "socket.sendmsg"})
_NAME_EVENTS = frozenset({"socket.getaddrinfo", "socket.gethostbyname"})
_EVENTS = _ADDRESS_EVENTS | _NAME_EVENTS


@dataclass(frozen=True)
class Attempt:
    """One network operation a guard saw."""

    event: str
    """The audit event: ``socket.connect``, ``socket.getaddrinfo``, ..."""
    address: str
    allowed: bool


class NetworkGuard:
    """While active, refuses network access beyond loopback and unix sockets.

    ``scope="process"`` guards every thread of the process; ``scope="thread"`` only the thread
    that entered it. Every operation seen while active is kept in :attr:`attempts`.
    """

    def __init__(self, *, scope: Scope = "process") -> None:
        self.scope = scope
        self.attempts: list[Attempt] = []

    @property
    def refused(self) -> list[Attempt]:
        return [attempt for attempt in self.attempts if not attempt.allowed]

    def activate(self) -> None:
        """Start guarding (installs the process's audit hook on first use)."""
        _install()
        _guards(self.scope).append(self)

    def deactivate(self) -> None:
        """Stop guarding."""
        guards = _guards(self.scope)
        if self in guards:
            guards.remove(self)

    def __enter__(self) -> Self:
        self.activate()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.deactivate()


def enforce(offline: bool) -> NetworkGuard | None:
    """For a model's own process, before it loads anything: hub libraries offline for the rest
    of the process, and with ``offline`` (``settings.offline``) a process-wide guard."""
    hub_offline()
    if not offline:
        return None
    guard = NetworkGuard(scope="process")
    guard.activate()
    return guard


@contextmanager
def offline_load(settings: Settings, *, scope: Scope = "process") -> Iterator[NetworkGuard | None]:
    """Around a model's load and inference: hub libraries offline and, with
    ``settings.offline``, a :class:`NetworkGuard` (yielded; None without it).

    With ``scope="process"`` the hub libraries' environment is set for the block and restored
    after it; with ``"thread"`` (a model running inside a shared process) the environment is
    left alone, so other threads may still pull, and only the calling thread is guarded.
    """
    restore = hub_offline() if scope == "process" else None
    try:
        if not settings.offline:
            yield None
        else:
            with NetworkGuard(scope=scope) as guard:
                yield guard
    finally:
        if restore is not None:
            restore()


def hub_offline() -> Callable[[], None]:
    """Put huggingface_hub and transformers in offline mode (the environment, and the flag
    huggingface_hub read at import if it is loaded); return a function that undoes it."""
    saved = {name: os.environ.get(name) for name in HUB_OFFLINE_VARIABLES}
    os.environ.update(HUB_OFFLINE_VARIABLES)
    loaded = "huggingface_hub.constants" in sys.modules
    if loaded:
        from huggingface_hub import constants

        was_offline = constants.HF_HUB_OFFLINE
        constants.HF_HUB_OFFLINE = True

    def restore() -> None:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        if loaded:
            constants.HF_HUB_OFFLINE = was_offline

    return restore


_process_guards: list[NetworkGuard] = []
_thread_state = threading.local()
_install_lock = threading.Lock()
_installed: list[bool] = []
_own_names: set[str] = set()


def _guards(scope: Scope) -> list[NetworkGuard]:
    if scope == "process":
        return _process_guards
    if not hasattr(_thread_state, "guards"):
        _thread_state.guards = []
    guards: list[NetworkGuard] = _thread_state.guards
    return guards


def _install() -> None:
    """Add the audit hook once per process: hooks cannot be removed, so it idles when no guard
    is active."""
    with _install_lock:
        if _installed:
            return
        _own_names.update({"", "localhost", socket.gethostname().lower()})
        sys.addaudithook(_hook)
        _installed.append(True)


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if event not in _EVENTS:
        return
    guards = _process_guards + getattr(_thread_state, "guards", [])
    if not guards:
        return
    address, allowed = _judge(event, args)
    attempt = Attempt(event, address, allowed)
    for guard in guards:
        guard.attempts.append(attempt)
    if not allowed:
        raise errors.NetworkForbidden(
            f"Berth is offline: refused {event} to {address}. Models load from the cache "
            "only: pull their files with `berth models pull ALIAS`, or set BERTH_OFFLINE=0."
        )


def _judge(event: str, args: tuple[Any, ...]) -> tuple[str, bool]:
    """The address an operation is for, and whether it stays on this machine."""
    if event in _NAME_EVENTS:
        host = args[0]
        return str(host), host is None or _local(host)
    sock, address = args[0], args[1]
    if address is None:
        return "(connected socket)", True
    if getattr(sock, "family", None) == getattr(socket, "AF_UNIX", object()):
        return str(address), True
    if isinstance(address, tuple) and len(address) >= 2:
        return f"{address[0]}:{address[1]}", _local(address[0])
    return str(address), False


def _local(host: str | bytes) -> bool:
    name = (host.decode(errors="replace") if isinstance(host, bytes) else str(host)).lower()
    name = name.split("%", 1)[0].rstrip(".")
    try:
        ip = ipaddress.ip_address(name)
    except ValueError:
        return name in _own_names or name.endswith(".localhost")
    mapped = getattr(ip, "ipv4_mapped", None)
    return ip.is_loopback or ip.is_unspecified or (mapped is not None and mapped.is_loopback)
