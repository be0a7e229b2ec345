"""A stand-in for a Hugging Face model hub on 127.0.0.1, in the hub's URL layout.

It answers what ``huggingface_hub`` asks when Berth pulls a model:

- ``GET /api/models/{repo}/revision/{revision}``: the repo at a revision, with each file's
  size, git blob id and LFS sha256 (``?blobs=true``);
- ``HEAD /{repo}/resolve/{revision}/{path}``: ``ETag``, ``X-Repo-Commit``, ``Content-Length``;
- ``GET`` on the same path, honouring ``Range: bytes=N-``;
- 404s with the hub's ``X-Error-Code`` (RepoNotFound, RevisionNotFound, EntryNotFound).

Faults can be injected per file (serve other bytes, cut the connection half-way, answer an
HTTP error), and every request is logged so tests can see what the client sent.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Self
from urllib.parse import unquote, urlsplit

LFS_SUFFIXES = (".safetensors", ".bin", ".pt", ".model")
CUT = "cut"
Fault = int | str


def git_blob_id(data: bytes) -> str:
    return hashlib.sha1(f"blob {len(data)}\0".encode() + data, usedforsecurity=False).hexdigest()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Logged:
    """One request the stand-in received."""

    method: str
    path: str
    range: str | None


@dataclass
class Repo:
    """A repo with one commit: its files, which branches point at it."""

    name: str
    commit: str
    files: dict[str, bytes]
    branches: set[str] = field(default_factory=lambda: {"main"})

    def sibling(self, name: str) -> dict[str, object]:
        data = self.files[name]
        entry: dict[str, object] = {"rfilename": name, "size": len(data)}
        if name.endswith(LFS_SUFFIXES):
            pointer = f"oid sha256:{sha256(data)}\nsize {len(data)}\n".encode()
            entry["blobId"] = git_blob_id(pointer)
            entry["lfs"] = {"size": len(data), "sha256": sha256(data), "pointerSize": len(pointer)}
        else:
            entry["blobId"] = git_blob_id(data)
        return entry

    def etag(self, name: str) -> str:
        data = self.files[name]
        return sha256(data) if name.endswith(LFS_SUFFIXES) else git_blob_id(data)


class HubStandIn:
    """``with HubStandIn() as hub:`` serves on ``hub.url`` until the block ends."""

    def __init__(self) -> None:
        self.repos: dict[str, Repo] = {}
        self.log: list[Logged] = []
        self.served: dict[str, bytes] = {}
        """Bytes to serve instead of a file's real ones (the listing keeps the real hashes)."""
        self.faults: dict[str, list[Fault]] = {}
        """File -> what to do to its next GETs, in order: cut it off half-way, or an HTTP
        status to answer with."""
        self._lock = threading.Lock()
        handler = type("BoundHandler", (Handler,), {"hub": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def add_repo(self, name: str, files: dict[str, bytes]) -> str:
        """Serve ``files`` as repo ``name`` (branch ``main``); return its commit hash."""
        commit = hashlib.sha1(name.encode() + repr(sorted(files)).encode()).hexdigest()
        self.repos[name] = Repo(name, commit, dict(files))
        return commit

    def gets(self, name: str) -> list[Logged]:
        """The GET requests for file ``name`` (any repo), in order."""
        return [
            entry
            for entry in self.log
            if entry.method == "GET" and "/resolve/" in entry.path and entry.path.endswith(name)
        ]

    def record(self, entry: Logged) -> None:
        with self._lock:
            self.log.append(entry)

    def fault(self, name: str, *faults: Fault) -> None:
        """Make the next GETs of file ``name`` fail: ``CUT`` closes the connection after half
        the bytes; a number answers that HTTP status."""
        with self._lock:
            self.faults.setdefault(name, []).extend(faults)

    def take_fault(self, name: str) -> Fault | None:
        """The fault for this GET of ``name``, if one is due."""
        with self._lock:
            pending = self.faults.get(name) or []
            return pending.pop(0) if pending else None

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


_API = re.compile(r"^/api/models/([^/]+/[^/]+)(?:/revision/([^/]+))?$")
_RESOLVE = re.compile(r"^/([^/]+/[^/]+)/resolve/([^/]+)/(.+)$")


class Handler(BaseHTTPRequestHandler):
    """Answers one request for ``hub`` (set on a subclass per stand-in)."""

    hub: HubStandIn
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self._answer(body=True)

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def _answer(self, *, body: bool) -> None:
        path = unquote(urlsplit(self.path).path)
        self.hub.record(Logged(self.command, path, self.headers.get("Range")))
        if match := _API.match(path):
            self._info(match.group(1), unquote(match.group(2) or "main"))
        elif match := _RESOLVE.match(path):
            self._file(match.group(1), unquote(match.group(2)), match.group(3), body=body)
        else:
            self._error(404, "RepoNotFound")

    def _repo(self, name: str, revision: str) -> Repo | None:
        repo = self.hub.repos.get(name)
        if repo is None:
            self._error(404, "RepoNotFound")
            return None
        if revision != repo.commit and revision not in repo.branches:
            self._error(404, "RevisionNotFound")
            return None
        return repo

    def _info(self, name: str, revision: str) -> None:
        repo = self._repo(name, revision)
        if repo is None:
            return
        siblings = [repo.sibling(file) for file in sorted(repo.files)]
        payload = json.dumps({"id": name, "sha": repo.commit, "siblings": siblings}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _file(self, name: str, revision: str, file: str, *, body: bool) -> None:
        repo = self._repo(name, revision)
        if repo is None:
            return
        if file not in repo.files:
            self._error(404, "EntryNotFound", repo.commit)
            return
        fault = self.hub.take_fault(file) if body else None
        if isinstance(fault, int):
            self._error(fault, None, repo.commit)
            return
        data = self.hub.served.get(file, repo.files[file])
        start = _range_start(self.headers.get("Range"))
        if start > len(data):
            self._error(416, None, repo.commit)
            return
        self._send_file(repo, file, data, start)
        if body:
            chunk = data[start:]
            self.wfile.write(chunk[: len(chunk) // 2] if fault == CUT else chunk)

    def _send_file(self, repo: Repo, file: str, data: bytes, start: int) -> None:
        self.send_response(206 if start else 200)
        self.send_header("X-Repo-Commit", repo.commit)
        self.send_header("ETag", f'"{repo.etag(file)}"')
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(len(data) - start))
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()

    def _error(self, status: int, code: str | None, commit: str | None = None) -> None:
        payload = json.dumps({"error": code or f"HTTP {status}"}).encode()
        self.send_response(status)
        if code:
            self.send_header("X-Error-Code", code)
        if commit:
            self.send_header("X-Repo-Commit", commit)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)


def _range_start(header: str | None) -> int:
    match = re.fullmatch(r"bytes=(\d+)-", header or "")
    return int(match.group(1)) if match else 0


def tiny_repo_files() -> dict[str, bytes]:
    """A small model repo: config and tokenizer in git, weights in LFS, a README."""
    weights = bytes((i * 7919) % 251 for i in range(300_000))
    return {
        "config.json": b'{"hidden_size": 8, "model_type": "tiny"}\n',
        "tokenizer.json": json.dumps({"vocab": {f"w{i}": i for i in range(200)}}).encode(),
        "1_Pooling/config.json": b'{"pooling_mode_mean_tokens": true}\n',
        "model.safetensors": weights,
        "README.md": b"# tiny\n",
    }


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (it was bound and closed again)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port
