"""One real ``berth serve`` and one headless Chromium for the browser tests.

The server pulls from a hub stand-in and draws images with a tiny diffusion pipeline (real
architecture, random weights) from a user catalog entry. Chromium is Debian's
(``/usr/bin/chromium``): Playwright never downloads a browser here. Every page a test visits
is saved as a screenshot in ``tests/browser/out/`` and checked with axe-core for serious
accessibility violations.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from tests.acceptance.live import LiveServer, live_server
from tests.hubstandin import HubStandIn, sha256, tiny_repo_files
from tests.tiny.diffusion import build_tiny_diffusion

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
OUT = Path(__file__).parent / "out"
FILES = tiny_repo_files()
CATALOG = """
[models.tiny]
task = "embed"
runner = "sentence-transformers"
source = "hf:acme/tiny@main"
files = ["*.json", "*.safetensors"]
description = "A tiny model the hub stand-in serves."

[models.tiny.sha256]
"model.safetensors" = "{digest}"

[models.echo-slow]
task = "chat"
runner = "echo"
source = "none:"
description = "The echo model, 120 ms per word: slow enough to watch a reply stream in."

[models.echo-slow.options]
transport = "thread"
runner_options = {{ chunk_delay_ms = 120 }}

[models.tiny-sd]
task = "image"
runner = "diffusers"
source = "local:{diffusion}"
description = "A tiny diffusion pipeline with random weights: it draws noise."

[models.tiny-sd.options]
transport = "thread"
"""
SERIOUS = {"serious", "critical"}


@pytest.fixture(scope="package")
def hub() -> Iterator[HubStandIn]:
    with HubStandIn() as stand_in:
        stand_in.add_repo("acme/tiny", FILES)
        yield stand_in


@pytest.fixture(scope="package")
def server(tmp_path_factory: pytest.TempPathFactory, hub: HubStandIn) -> Iterator[LiveServer]:
    diffusion = build_tiny_diffusion(tmp_path_factory.mktemp("tiny-sd"))
    home = tmp_path_factory.mktemp("browser") / "home"
    home.mkdir()
    digest = sha256(FILES["model.safetensors"])
    (home / "catalog.toml").write_text(CATALOG.format(digest=digest, diffusion=diffusion))
    with live_server(home, BERTH_HUB_ENDPOINT=hub.url, BERTH_CANCEL_GRACE_SECONDS="1") as running:
        yield running


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    """One Playwright for the package: a second sync instance inside it would fail."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: scripts/test installs Debian's chromium package.")
    with sync_playwright() as started:
        yield started


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield launched
    launched.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    made = browser.new_context(viewport={"width": 1280, "height": 900})
    made.set_default_timeout(15_000)
    yield made
    made.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


def snap(page: Page, name: str) -> None:
    """Save a screenshot of the page as ``out/<name>.png`` and check it with axe-core."""
    OUT.mkdir(exist_ok=True)
    page.screenshot(
        path=str(OUT / f"{re.sub(r'[^a-z0-9_-]+', '-', name.lower())}.png"), full_page=True
    )
    results = Axe().run(page)
    bad = [v for v in results.response["violations"] if v.get("impact") in SERIOUS]
    assert not bad, f"{name}: serious accessibility violations:\n{describe(bad)}"


def describe(violations: list[dict[str, Any]]) -> str:
    lines = []
    for violation in violations:
        targets = [", ".join(node["target"]) for node in violation["nodes"][:3]]
        lines.append(
            f"- {violation['id']} ({violation['impact']}): {violation['help']} at {targets}"
        )
    return "\n".join(lines)
