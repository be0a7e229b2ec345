"""One request to a server, checked: the model is loaded and the answer has the right shape."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

from .corpus import DIMENSIONS, MODEL_ALIAS
from .errors import WrongAnswer

FIRST_REQUEST_TIMEOUT_S = 180.0


class _NotYet(Exception):
    """503: the server is still loading the model."""

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(retry_after_s)
        self.retry_after_s = retry_after_s


def _retry_after(exc: urllib.error.HTTPError) -> float:
    try:
        return min(5.0, max(0.1, float(exc.headers.get("Retry-After", "1"))))
    except ValueError:
        return 1.0


def _post(url: str, body: dict[str, str]) -> object:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=FIRST_REQUEST_TIMEOUT_S) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        if exc.code == 503:
            raise _NotYet(_retry_after(exc)) from exc
        detail = exc.read().decode(errors="replace")[:500]
        raise WrongAnswer(f"POST {url} answered {exc.code}: {detail}") from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise WrongAnswer(f"POST {url} failed: {exc}") from exc


def _dimensions(answer: object) -> int:
    try:
        data = answer["data"]  # type: ignore[index]
        return len(data[0]["embedding"]) if len(data) == 1 else -1
    except (KeyError, IndexError, TypeError):
        return -1


def _post_until_loaded(url: str, body: dict[str, str]) -> object:
    deadline = time.monotonic() + FIRST_REQUEST_TIMEOUT_S
    while True:
        try:
            return _post(url, body)
        except _NotYet as exc:
            if time.monotonic() + exc.retry_after_s > deadline:
                raise WrongAnswer(
                    f"POST {url} still answered 503 (model loading) after "
                    f"{FIRST_REQUEST_TIMEOUT_S:g} s."
                ) from exc
            time.sleep(exc.retry_after_s)


def embed_once(url: str, text: str = "Warm the model up before measuring.") -> float:
    """POST one sentence and check that one embedding comes back, waiting while the server
    answers 503 (still loading the model); the seconds it took."""
    started = time.monotonic()
    answer = _post_until_loaded(url, {"model": MODEL_ALIAS, "input": text})
    if _dimensions(answer) != DIMENSIONS:
        raise WrongAnswer(
            f"POST {url} did not answer with one {DIMENSIONS}-dimensional embedding: "
            f"{json.dumps(answer)[:300]}"
        )
    return time.monotonic() - started
