"""The voice page in Chromium: a realtime session from the browser, with the page's own
microphone (Chromium's fake capture device playing espeak-ng speech from a file)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import Browser, Page, Playwright, expect

from berth.media.audio import encode_wav, resample
from berth.runners.espeak import synthesize
from tests.acceptance.live import LiveServer, live_server
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, snap
from tests.tiny.whisper import write_whisper

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def voice_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("voice") / "home"
    home.mkdir()
    whisper = write_whisper(home / "tiny-whisper")
    (home / "catalog.toml").write_text(
        f'[models.tiny-whisper]\ntask = "transcribe"\nrunner = "transformers-asr"\n'
        f'source = "local:{whisper}"\n'
    )
    with live_server(home, BERTH_REALTIME_TRANSCRIPTION_MODEL="tiny-whisper") as live:
        yield live


@pytest.fixture(scope="module")
def microphone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    samples, rate = synthesize("Hello from the browser. How are you today?")
    speech = resample(samples, rate)
    silence = np.zeros(16000, np.float32)
    path = tmp_path_factory.mktemp("mic") / "speech.wav"
    path.write_bytes(encode_wav(np.concatenate([silence, speech, silence, silence])))
    return path


@pytest.fixture(scope="module")
def voice_browser(playwright: Playwright, microphone: Path) -> Iterator[Browser]:
    args = [
        *CHROMIUM_ARGS,
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={microphone}",
        "--autoplay-policy=no-user-gesture-required",
    ]
    launched = playwright.chromium.launch(executable_path=CHROMIUM, args=args)
    yield launched
    launched.close()


@pytest.fixture
def voice_page(voice_browser: Browser, voice_server: LiveServer) -> Iterator[Page]:
    context = voice_browser.new_context(viewport={"width": 1280, "height": 900})
    context.grant_permissions(["microphone"], origin=voice_server.url)
    context.set_default_timeout(20_000)
    page = context.new_page()
    page.goto(f"{voice_server.url}/playground/voice")
    yield page
    context.close()


def test_typed_turn_is_answered_and_spoken(voice_page: Page) -> None:
    page = voice_page
    page.get_by_label("Chat model").select_option("echo")
    page.get_by_label("Push to talk").check()  # the microphone stays out of this turn
    page.get_by_role("button", name="Start").click()
    expect(page.locator("#voice-status")).to_have_attribute("data-state", "connected")
    page.get_by_label("Or type").fill("Good evening. The harbour is calm.")
    page.get_by_role("button", name="Send").click()
    reply = page.locator("#voice-log li.assistant")
    expect(reply).to_have_text("Good evening. The harbour is calm.", timeout=30_000)
    expect(reply).to_have_attribute("data-status", "completed", timeout=30_000)
    heard = int(page.locator("#voice-log").get_attribute("data-audio-ms") or 0)
    assert heard > 1000, f"only {heard} ms of speech came back"
    expect(page.locator("#voice-error")).to_be_hidden()
    snap(page, "playground-voice")


def test_hands_free_speech_is_heard_and_answered(voice_page: Page) -> None:
    page = voice_page
    page.get_by_label("Chat model").select_option("echo")
    page.get_by_role("button", name="Start").click()
    expect(page.locator("#voice-log li.user").first).to_be_visible(timeout=40_000)
    expect(page.locator("#voice-log li.assistant").first).to_have_attribute(
        "data-status", "completed", timeout=40_000
    )
    expect(page.locator("#voice-error")).to_be_hidden()
