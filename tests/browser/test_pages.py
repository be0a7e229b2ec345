"""The web UI in a real browser: submit and watch a job, cancel one, see an image artifact,
chat with a streaming model, pull a model; every page screenshotted and checked with axe."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.acceptance.live import LiveServer
from tests.browser.conftest import snap

pytestmark = [pytest.mark.browser, pytest.mark.acceptance]


def submit(page: Page, server: LiveServer, kind: str, **fields: str) -> str:
    """Fill and send the submit form of ``kind``; answer the new job's id."""
    page.goto(f"{server.url}/submit/{kind}")
    for name, value in fields.items():
        page.get_by_label(re.compile(f"^{name}", re.IGNORECASE)).fill(value)
    page.get_by_role("button", name="Submit").click()
    page.wait_for_url(re.compile(r"/jobs/job_"))
    return page.url.rsplit("/", 1)[-1]


def settled(page: Page) -> None:
    """Wait for the job page as it is rendered once the job has ended (it reloads then)."""
    expect(page.locator('#job[data-terminal="yes"]')).to_have_count(1, timeout=20_000)
    page.wait_for_load_state()


def test_a_sleep_job_s_progress_bar_reaches_100_percent(page: Page, server: LiveServer) -> None:
    page.goto(f"{server.url}/submit/sleep")
    snap(page, "submit-sleep")
    job_id = submit(page, server, "sleep", seconds="1.5", steps="5")
    page.evaluate("""() => {
        const shown = document.getElementById("job-percent");
        new MutationObserver(() => {
            const seen = JSON.parse(sessionStorage.getItem("percents") || "[]");
            sessionStorage.setItem("percents", JSON.stringify([...seen, shown.textContent]));
        }).observe(shown, {childList: true, subtree: true, characterData: true});
    }""")
    expect(page.locator("#job-status")).to_have_text("succeeded", timeout=20_000)
    expect(page.locator("#job-result")).to_be_visible()  # the page reloaded with the result
    live = page.evaluate("JSON.parse(sessionStorage.getItem('percents') || '[]')")
    assert live[-1] == "100%" and len(live) >= 2, f"the bar did not move live: {live}"
    expect(page.locator("#job-percent")).to_have_text("100%")
    expect(page.locator("#job-progress")).to_have_js_property("value", 1)
    expect(page.locator("#job-result")).to_contain_text('"slept": 1.5')
    expect(page.locator("#job-events")).to_contain_text("succeeded")
    snap(page, "job-succeeded")
    page.goto(f"{server.url}/jobs?kind=sleep")
    expect(page.get_by_role("link", name=job_id)).to_be_visible()
    snap(page, "jobs")


def test_the_submit_form_shows_what_is_wrong_next_to_the_field(
    page: Page, server: LiveServer
) -> None:
    page.goto(f"{server.url}/submit/sleep")
    page.get_by_label(re.compile("^seconds", re.IGNORECASE)).fill("-3")
    page.get_by_label(re.compile("^steps", re.IGNORECASE)).fill("2.5")
    page.get_by_role("button", name="Submit").click()
    expect(page.locator("#field-seconds-error")).to_contain_text("greater than or equal to 0")
    expect(page.locator("#field-steps-error")).to_have_text("Enter a whole number.")
    expect(page.get_by_label(re.compile("^seconds", re.IGNORECASE))).to_have_value("-3")
    snap(page, "submit-invalid")


def test_cancel_a_running_job(page: Page, server: LiveServer) -> None:
    submit(page, server, "sleep", seconds="60", steps="60")
    expect(page.locator("#job-status")).to_have_text("running", timeout=20_000)
    page.get_by_role("button", name="Cancel").click()
    expect(page.locator("#job-status")).to_have_text("cancelled", timeout=20_000)
    settled(page)
    expect(page.get_by_role("button", name="Cancel")).to_have_count(0)
    snap(page, "job-cancelled")


def test_an_image_artifact_is_shown_and_downloadable(page: Page, server: LiveServer) -> None:
    page.goto(f"{server.url}/submit/image?model=tiny-sd")
    page.get_by_label(re.compile("^prompt", re.IGNORECASE)).fill("a cat on a boat")
    page.get_by_label(re.compile("^steps", re.IGNORECASE)).fill("2")
    page.get_by_label(re.compile("^seed", re.IGNORECASE)).fill("7")
    page.get_by_role("button", name="Submit").click()
    page.wait_for_url(re.compile(r"/jobs/job_"))
    job_id = page.url.rsplit("/", 1)[-1]
    settled(page)
    expect(page.locator("#job-status")).to_have_text("succeeded")
    image = page.get_by_role("img", name="Artifact image-0.png")
    expect(image).to_be_visible()
    page.wait_for_function("document.querySelector('img.preview').complete")
    assert image.evaluate("img => img.naturalWidth") == 64
    snap(page, "job-image")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download image-0.png").click()
    assert download.value.suggested_filename == "image-0.png"
    opened = page.request.get(f"{server.url}/v1/jobs/{job_id}/artifacts/image-0.png")
    assert opened.headers["content-type"] == "image/png"
    assert opened.body()[:8] == b"\x89PNG\r\n\x1a\n"


def test_chat_with_the_echo_model_streams_the_reply(page: Page, server: LiveServer) -> None:
    page.goto(f"{server.url}/playground/chat")
    page.get_by_label("Model").select_option("echo-slow")
    page.evaluate("""() => {
        window.replySizes = [];
        new MutationObserver(() => {
            const reply = document.querySelector("#chat-log li.assistant");
            if (reply) window.replySizes.push(reply.textContent.length);
        }).observe(document.getElementById("chat-log"),
                   {childList: true, subtree: true, characterData: true});
    }""")
    page.get_by_label("Message").fill("ships ride at their berth tonight")
    page.get_by_role("button", name="Send").click()
    reply = page.locator("#chat-log li.assistant")
    expect(reply).to_have_text("ships ride at their berth tonight", timeout=20_000)
    sizes = [size for size in page.evaluate("window.replySizes") if size > 0]
    assert len(set(sizes)) >= 3, f"the reply came in one piece: {sizes}"
    snap(page, "playground-chat")


def test_pull_a_model_and_see_it_cached(page: Page, server: LiveServer) -> None:
    page.goto(f"{server.url}/models")
    row = page.locator("#model-tiny")
    expect(row.locator("[data-state]")).to_have_text("missing")
    snap(page, "models")
    row.get_by_role("button", name="pull tiny").click()
    expect(row.locator("[data-state]")).to_have_text("verified", timeout=30_000)
    expect(page.get_by_role("status")).to_contain_text(re.compile("Pull finished|Pulling tiny"))
    row.get_by_role("button", name="verify tiny").click()
    expect(page.get_by_role("status")).to_have_text("tiny is verified.")


def test_load_pin_and_see_the_model_on_the_dashboard(page: Page, server: LiveServer) -> None:
    page.goto(f"{server.url}/models")
    page.locator("#model-echo").get_by_role("button", name="load echo", exact=True).click()
    expect(page.get_by_role("status")).to_have_text("Loaded echo.")
    page.locator("#model-echo").get_by_role("button", name="pin echo", exact=True).click()
    expect(page.get_by_role("status")).to_have_text("Pinned echo.")
    page.goto(f"{server.url}/")
    devices = page.locator("#devices")
    expect(devices.get_by_role("cell", name="echo", exact=True)).to_be_visible()
    expect(devices.get_by_role("cell", name="yes")).to_be_visible()
    snap(page, "dashboard")


@pytest.mark.parametrize(
    "path",
    [
        "/submit",
        "/playground",
        "/playground/embed",
        "/playground/image",
        "/playground/speak",
        "/playground/transcribe",
        "/playground/ocr",
        "/login",
    ],
)
def test_every_other_page_renders_and_passes_axe(page: Page, server: LiveServer, path: str) -> None:
    response = page.goto(f"{server.url}{path}")
    assert response is not None and response.status == 200
    expect(page.locator("h1")).to_be_visible()
    snap(page, path.strip("/").replace("/", "-") or "home")


def test_the_dashboard_counts_jobs_live(page: Page, server: LiveServer) -> None:
    page.goto(f"{server.url}/")
    before = int(page.locator('dd[data-status="succeeded"]').inner_text())
    done = httpx.post(f"{server.url}/v1/jobs", json={"kind": "echo", "input": {"n": 1}})
    assert done.status_code == 201
    expect(page.locator('dd[data-status="succeeded"]')).to_have_text(
        str(before + 1), timeout=15_000
    )
