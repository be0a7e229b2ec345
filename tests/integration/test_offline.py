"""Offline loading: the real MiniLM model loads and embeds from the cache with the network
guard on, and the guard refuses anything beyond loopback before a packet leaves."""

from __future__ import annotations

import os
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from huggingface_hub import constants

from berth import errors
from berth.models.cache import ModelCache
from berth.models.catalog import Catalog
from berth.models.offline import NetworkGuard, offline_load
from berth.settings import Settings

pytestmark = pytest.mark.integration
BLACKHOLE = ("10.255.255.1", 9)
FAR_NAME = "huggingface.co"


class Tripwire:
    """A second audit hook, added after the guard's: it only runs if the guard let a
    non-loopback operation through, and then stops it before any packet is sent."""

    installed = False
    armed = False
    passed: list[tuple[str, str]] = []

    @classmethod
    def hook(cls, event: str, args: tuple[Any, ...]) -> None:
        if not cls.armed:
            return
        if event in ("socket.connect", "socket.sendto") and args[1] == BLACKHOLE:
            cls.stop(event, str(args[1]))
        if event == "socket.getaddrinfo" and args[0] == FAR_NAME:
            cls.stop(event, FAR_NAME)

    @classmethod
    def stop(cls, event: str, address: str) -> None:
        cls.passed.append((event, address))
        raise ConnectionAbortedError(f"the tripwire stopped {event} that the guard allowed")


@pytest.fixture
def tripwire() -> Iterator[type[Tripwire]]:
    with NetworkGuard():
        pass
    if not Tripwire.installed:
        sys.addaudithook(Tripwire.hook)
        Tripwire.installed = True
    Tripwire.armed, Tripwire.passed = True, []
    yield Tripwire
    Tripwire.armed = False


def test_minilm_loads_and_embeds_from_the_cache_without_the_network(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tripwire: type[Tripwire]
) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    settings = Settings(home=tmp_path, offline=True)
    spec = Catalog.load(settings).get("all-minilm-l6-v2")
    path = ModelCache(settings).path_for(spec)
    assert path is not None
    with offline_load(settings) as guard:
        assert guard is not None
        assert os.environ["HF_HUB_OFFLINE"] == "1" and constants.HF_HUB_OFFLINE
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        vectors = model.encode(["a berth for models", "a harbour for ships"])
        during_load = list(guard.attempts)
        with pytest.raises(errors.NetworkForbidden):
            socket.getaddrinfo(FAR_NAME, 443)
    assert vectors.shape == (2, 384)
    assert [attempt.address for attempt in guard.refused] == ["huggingface.co"]
    assert all(attempt.allowed for attempt in during_load), during_load
    assert "HF_HUB_OFFLINE" not in os.environ


def test_the_guard_refuses_a_connection_beyond_loopback(tripwire: type[Tripwire]) -> None:
    with NetworkGuard() as guard, socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.1)
        with pytest.raises(errors.NetworkForbidden, match=r"10\.255\.255\.1:9"):
            sock.connect(BLACKHOLE)
    assert tripwire.passed == []
    assert [(a.event, a.address, a.allowed) for a in guard.refused] == [
        ("socket.connect", "10.255.255.1:9", False)
    ]


def test_the_guard_refuses_name_lookups_and_datagrams_beyond_loopback(
    tripwire: type[Tripwire],
) -> None:
    with NetworkGuard() as guard:
        with pytest.raises(errors.NetworkForbidden, match=r"huggingface\.co"):
            socket.getaddrinfo(FAR_NAME, 443)
        with (
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock,
            pytest.raises(errors.NetworkForbidden),
        ):
            sock.sendto(b"x", BLACKHOLE)
    assert len(guard.refused) == 2
    assert tripwire.passed == []


def test_the_guard_allows_loopback_and_unix_sockets(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as server, NetworkGuard() as guard:
        with socket.create_connection(server.getsockname()[:2], timeout=2):
            pass
        with socket.create_connection(("localhost", server.getsockname()[1]), timeout=2):
            pass
        path = str(tmp_path / "s")
        with socket.socket(socket.AF_UNIX) as listener, socket.socket(socket.AF_UNIX) as client:
            listener.bind(path)
            listener.listen()
            client.connect(path)
    assert guard.refused == []
    assert {a.event for a in guard.attempts} >= {"socket.connect", "socket.getaddrinfo"}


def test_a_thread_guard_leaves_other_threads_alone(tripwire: type[Tripwire]) -> None:
    outcome: list[str] = []

    def other() -> None:
        with socket.socket() as sock:
            try:
                sock.connect(BLACKHOLE)
            except errors.NetworkForbidden:
                outcome.append("refused by the guard")
            except ConnectionAbortedError:
                outcome.append("let through")

    with NetworkGuard(scope="thread") as guard:
        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
        with socket.socket() as sock, pytest.raises(errors.NetworkForbidden):
            sock.connect(BLACKHOLE)
    assert outcome == ["let through"]
    assert len(guard.refused) == 1


def test_offline_load_restores_the_environment_and_needs_no_guard_when_online(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    before = constants.HF_HUB_OFFLINE
    with offline_load(Settings(home=tmp_path, offline=False)) as guard:
        assert guard is None
        assert os.environ["HF_HUB_OFFLINE"] == "1" and constants.HF_HUB_OFFLINE
    assert "HF_HUB_OFFLINE" not in os.environ
    assert before == constants.HF_HUB_OFFLINE
