"""The model hub, reached through ``huggingface_hub``: list a repo, download one file resumably.

``hf_hub_download`` resumes a broken transfer only within one call: it writes to a
process-unique ``<etag>.<random>.incomplete`` file and deletes it when the call fails. Berth
wants a pull that stopped (Ctrl-C, a dropped link, a reboot) to go on from where it was, so it
keeps its own partial file per model and uses huggingface_hub's lower layers on it: the hub's
URL layout (``hf_hub_url``), the metadata request (``get_hf_file_metadata``, a HEAD on
``/{repo}/resolve/{revision}/{file}``) and ``http_get``, which sends ``Range: bytes=N-`` for
the ``resume_size`` it is given and itself retries dropped connections from where they broke.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import httpx2
from huggingface_hub import HfApi, constants, get_hf_file_metadata, hf_hub_url
from huggingface_hub.errors import (
    GatedRepoError,
    HfHubHTTPError,
    OfflineModeIsEnabled,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.file_download import http_get
from huggingface_hub.utils import build_hf_headers  # type: ignore[attr-defined]

from berth import __version__, errors
from berth.models.spec import HubSource

ByteSink = Callable[[int], None]


@dataclass(frozen=True)
class HubFile:
    """One file of a repo at a commit, as the hub describes it."""

    name: str
    size: int | None
    sha256: str | None
    """The LFS sha256, for files stored in LFS."""
    git_sha1: str | None
    """The git blob id, for files stored in git itself."""


@dataclass(frozen=True)
class HubListing:
    """A repo's files at the commit a revision resolved to."""

    repo: str
    commit: str
    files: tuple[HubFile, ...]


class HubClient:
    """One model hub endpoint (``None``: huggingface_hub's default, ``HF_ENDPOINT``)."""

    def __init__(self, endpoint: str | None) -> None:
        self.endpoint = endpoint.rstrip("/") if endpoint else None
        self.url = self.endpoint or constants.ENDPOINT
        self._api = HfApi(endpoint=self.endpoint, library_name="berth", library_version=__version__)

    def listing(self, source: HubSource) -> HubListing:
        """Every file of ``source`` at its revision, with sizes and hashes; one request."""
        with self._errors(f"list '{source.repo}' at '{source.revision}'", resumable=False):
            info = self._api.model_info(source.repo, revision=source.revision, files_metadata=True)
        if not info.sha:
            raise errors.DownloadFailed(
                f"The model hub at {self.url} did not say which commit '{source.revision}' of "
                f"'{source.repo}' is. Check BERTH_HUB_ENDPOINT points to a Hugging Face hub."
            )
        files = tuple(
            HubFile(
                name=sibling.rfilename,
                size=sibling.size,
                sha256=sibling.lfs.sha256 if sibling.lfs else None,
                git_sha1=None if sibling.lfs else sibling.blob_id,
            )
            for sibling in info.siblings or ()
        )
        return HubListing(source.repo, info.sha, files)

    def download(
        self, repo: str, commit: str, file: HubFile, target: Path, on_bytes: ByteSink
    ) -> None:
        """Download ``file`` to ``target``, going on from the bytes ``target`` already holds."""
        url = hf_hub_url(repo, file.name, revision=commit, endpoint=self.endpoint)
        headers = build_hf_headers(library_name="berth", library_version=__version__)
        with self._errors(f"find '{file.name}' in '{repo}'", resumable=True):
            metadata = get_hf_file_metadata(url, headers=headers, endpoint=self.endpoint)
        location = metadata.location
        if urlsplit(location).netloc != urlsplit(url).netloc:
            headers.pop("authorization", None)
        expected = file.size if file.size is not None else metadata.size
        resume = _resumable_size(target, expected)
        target.parent.mkdir(parents=True, exist_ok=True)
        with self._errors(f"download '{file.name}'", resumable=True), target.open("ab") as stream:
            http_get(
                location,
                stream,
                resume_size=resume,
                headers=headers,
                expected_size=expected,
                displayed_filename=file.name,
                tqdm_class=cast(Any, _bar_class(on_bytes)),
            )

    @contextmanager
    def _errors(self, doing: str, *, resumable: bool) -> Iterator[None]:
        """Turn huggingface_hub's and httpx2's errors into one-line DownloadFailed errors."""
        resume = " `berth models pull` resumes where it stopped." if resumable else ""
        try:
            yield
        except OfflineModeIsEnabled as exc:
            raise errors.DownloadFailed(
                "huggingface_hub is in offline mode (HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE is "
                "set in the environment). Unset it to pull models."
            ) from exc
        except GatedRepoError as exc:
            raise errors.DownloadFailed(
                f"Cannot {doing}: the repo is gated on {self.url}. Accept its terms on the hub "
                "and set HF_TOKEN to a token that may read it."
            ) from exc
        except (RepositoryNotFoundError, RevisionNotFoundError, RemoteEntryNotFoundError) as exc:
            raise errors.DownloadFailed(
                f"Cannot {doing}: the model hub at {self.url} has no such "
                f"{_missing(exc)}. Check the catalog's source (a private repo needs HF_TOKEN)."
            ) from exc
        except HfHubHTTPError as exc:
            status = exc.response.status_code
            raise errors.DownloadFailed(
                f"Cannot {doing}: the model hub at {self.url} answered HTTP {status}. "
                f"Try again later.{resume}"
            ) from exc
        except httpx2.TransportError as exc:
            raise errors.DownloadFailed(
                f"Cannot reach the model hub at {self.url}: {_one_line(exc)}. "
                f"Check BERTH_HUB_ENDPOINT and the network.{resume}"
            ) from exc
        except OSError as exc:
            raise errors.DownloadFailed(
                f"Cannot {doing} from {self.url}: {_one_line(exc)}.{resume or ' Try again.'}"
            ) from exc


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()).rstrip(".") or type(exc).__name__


def _missing(exc: HfHubHTTPError) -> str:
    if isinstance(exc, RevisionNotFoundError):
        return "revision"
    if isinstance(exc, RemoteEntryNotFoundError):
        return "file"
    return "repository"


def _resumable_size(target: Path, expected: int | None) -> int:
    """Bytes of ``target`` to keep; a partial file longer than the whole one starts over."""
    size = target.stat().st_size if target.exists() else 0
    if expected is not None and size > expected:
        target.unlink()
        return 0
    return size


def _bar_class(on_bytes: ByteSink) -> type:
    """A stand-in for tqdm that ``http_get`` reports its bytes to (and that draws nothing)."""

    class Bar:
        def __init__(self, **_: object) -> None:
            pass

        def __enter__(self) -> Bar:
            return self

        def __exit__(self, *_: object) -> None:
            pass

        def update(self, n: float | None = 1) -> None:
            on_bytes(int(n or 0))

    return Bar
