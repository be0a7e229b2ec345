"""The web UI's security with keys required (as for any caller off this machine): login with
a key, an HTTP-only session cookie, CSRF tokens on every change, and text shown as text."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.acceptance.live import LiveServer, live_server

pytestmark = [pytest.mark.browser, pytest.mark.acceptance]
SCRIPT = "<script>alert('owned')</script>"


def create_key(home: Path, name: str, scopes: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BERTH_")}
    env["BERTH_HOME"] = str(home)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "berth",
            "keys",
            "create",
            "--name",
            name,
            "--scopes",
            scopes,
            "--json",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    secret: str = json.loads(done.stdout)["secret"]
    return secret


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("secure") / "home"
    with live_server(home, BERTH_REQUIRE_KEYS="1") as running:
        yield running


@pytest.fixture(scope="module")
def secret(server: LiveServer) -> str:
    return create_key(server.home, "browser", "infer,jobs,admin")


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf-token" content="([^"]+)"', html)
    assert found, "the page carries no CSRF token"
    return found.group(1)


def log_in(client: httpx.Client, secret: str) -> httpx.Response:
    form = client.get("/login")
    return client.post(
        "/login", data={"key": secret, "csrf_token": csrf_of(form.text), "next": "/jobs"}
    )


def test_pages_send_a_visitor_without_a_session_to_the_login_page(server: LiveServer) -> None:
    for path in ("/", "/jobs", "/models", "/playground/chat", "/submit/sleep"):
        answer = httpx.get(f"{server.url}{path}")
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/login?next=")
    assert httpx.get(f"{server.url}/ui/api/dashboard").status_code == 401


def test_a_wrong_key_is_refused(server: LiveServer) -> None:
    with httpx.Client(base_url=server.url) as client:
        answer = log_in(client, "berth_" + "x" * 43)
        assert answer.status_code == 401
        assert "The API key is not valid" in answer.text
        assert client.get("/jobs").status_code == 303


def test_a_good_key_sets_an_http_only_strict_cookie(server: LiveServer, secret: str) -> None:
    with httpx.Client(base_url=server.url) as client:
        answer = log_in(client, secret)
        assert answer.status_code == 303 and answer.headers["location"] == "/jobs"
        cookie = answer.headers["set-cookie"]
        assert cookie.startswith("berth_session=")
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
        page = client.get("/jobs")
        assert page.status_code == 200 and "Key: browser" in page.text
        assert client.get("/v1/jobs").status_code == 200  # the API accepts the session too


def test_a_login_only_goes_to_pages_of_this_site(server: LiveServer, secret: str) -> None:
    with httpx.Client(base_url=server.url) as client:
        form = client.get("/login")
        answer = client.post(
            "/login",
            data={"key": secret, "csrf_token": csrf_of(form.text), "next": "//evil.example/"},
        )
        assert answer.headers["location"] == "/"


def test_changes_without_the_csrf_token_are_refused(server: LiveServer, secret: str) -> None:
    with httpx.Client(base_url=server.url) as client:
        log_in(client, secret)
        token = csrf_of(client.get("/submit/sleep").text)
        no_token = client.post("/submit/sleep", data={"seconds": "0"})
        assert no_token.status_code == 403 and "CSRF token" in no_token.text
        forged = client.post("/submit/sleep", data={"seconds": "0", "csrf_token": "0" * 64})
        assert forged.status_code == 403
        api = client.post("/v1/jobs", json={"kind": "sleep", "input": {"seconds": 0}})
        assert api.status_code == 403
        assert "CSRF token" in api.json()["error"]["message"]
        sent = client.post("/v1/jobs", json={"kind": "echo"}, headers={"X-CSRF-Token": token})
        assert sent.status_code == 201
        submitted = client.post("/submit/sleep", data={"seconds": "0", "csrf_token": token})
        assert submitted.status_code == 303
        assert submitted.headers["location"].startswith("/jobs/job_")
    assert httpx.post(f"{server.url}/login", data={"key": secret}).status_code == 403


def test_user_text_is_shown_escaped(server: LiveServer, secret: str) -> None:
    with httpx.Client(base_url=server.url) as client:
        log_in(client, secret)
        token = csrf_of(client.get("/submit/echo").text)
        done = client.post(
            "/submit/echo", data={"input": json.dumps({"note": SCRIPT}), "csrf_token": token}
        )
        assert done.status_code == 303
        page = client.get(done.headers["location"])
        assert SCRIPT not in page.text
        assert "&lt;script&gt;alert(&#39;owned&#39;)&lt;/script&gt;" in page.text
        filtered = client.get("/models", params={"note": SCRIPT})
        assert SCRIPT not in filtered.text and "&lt;script&gt;" in filtered.text
        assert "script-src" in page.headers["content-security-policy"] or (
            "default-src 'self'" in page.headers["content-security-policy"]
        )


def test_a_revoked_key_ends_its_sessions(server: LiveServer) -> None:
    secret = create_key(server.home, "short-lived", "jobs")
    with httpx.Client(base_url=server.url) as client:
        log_in(client, secret)
        assert client.get("/jobs").status_code == 200
        refused = client.get("/models")
        assert refused.status_code == 403 and "lacks the &#39;infer&#39; scope" in refused.text
        env = {k: v for k, v in os.environ.items() if not k.startswith("BERTH_")}
        env["BERTH_HOME"] = str(server.home)
        subprocess.run(
            [sys.executable, "-m", "berth", "keys", "revoke", "short-lived"],
            env=env,
            capture_output=True,
            check=True,
            timeout=60,
        )
        assert client.get("/jobs").status_code == 303
        assert client.get("/v1/jobs").status_code == 401
