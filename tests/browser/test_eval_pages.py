"""The eval pages in a real browser: runs with pass rates, a run's per-criterion bars and its
samples filtered to failures (input, output and grade side by side), and two runs compared,
each checked with axe-core."""

from __future__ import annotations

import time
from typing import Any

import openai
import pytest
from playwright.sync_api import Page, expect

from tests.acceptance.live import LiveServer
from tests.browser.conftest import snap

pytestmark = [pytest.mark.acceptance, pytest.mark.slow]
EXACT = {
    "type": "string_check",
    "name": "exact",
    "input": "{{sample.output_text}}",
    "reference": "{{item.a}}",
    "operation": "eq",
}
QUESTIONS = [("capital of France", "Paris"), ("2+2", "4"), ("sky colour", "blue")]


def rows(outputs: list[str]) -> list[dict[str, Any]]:
    return [{"item": {"q": q, "a": a}, "sample": {"output_text": out}}
            for (q, a), out in zip(QUESTIONS, outputs, strict=True)]  # fmt: skip


def finished(client: openai.OpenAI, eval_id: str, run_id: str) -> Any:
    for _ in range(600):
        run = client.evals.runs.retrieve(run_id, eval_id=eval_id)
        if run.status in ("completed", "failed", "canceled"):
            return run
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} did not finish")


def test_runs_samples_and_a_comparison_are_shown(page: Page, server: LiveServer) -> None:
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="none", max_retries=0)
    made = client.evals.create(
        name="Harbour quiz",
        data_source_config={"type": "custom", "item_schema": {"type": "object"},
                            "include_sample_schema": True},
        testing_criteria=[EXACT],  # type: ignore[list-item]
    )  # fmt: skip
    ids = []
    for name, outputs in (("before", ["Paris", "5", "blue"]), ("after", ["Paris", "4", "grey"])):
        run = client.evals.runs.create(
            made.id, name=name,
            data_source={"type": "jsonl", "source": {"type": "file_content",
                                                     "content": rows(outputs)}},  # type: ignore[typeddict-item]
        )  # fmt: skip
        assert finished(client, made.id, run.id).status == "completed"
        ids.append(run.id)
    page.goto(f"{server.url}/evals")
    listed = page.get_by_role("row", name="Harbour quiz")
    expect(listed).to_contain_text("before")
    expect(listed).to_contain_text("66.7% passed")
    snap(page, "evals")
    listed.get_by_role("link", name="after").click()
    expect(page.get_by_label("exact: 2 passed, 1 failed")).to_have_attribute(
        "value", "0.6666666666666666"
    )
    page.get_by_role("link", name="fail", exact=True).click()
    samples = page.locator("#samples tbody tr")
    expect(samples).to_have_count(1)
    expect(samples.first).to_contain_text("sky colour")
    expect(samples.first).to_contain_text("grey")
    expect(samples.first).to_contain_text("exact: fail (0.0)")
    snap(page, "eval-run-failures")
    page.get_by_role("link", name=f"against before ({ids[0]})").click()
    expect(page.locator("#criteria tbody tr").first).to_contain_text("+0.0 points")
    changed = page.locator("#changed tbody tr")
    expect(changed).to_have_count(2)
    expect(changed.nth(0)).to_contain_text("5")
    expect(changed.nth(1)).to_contain_text("grey")
    snap(page, "eval-compare")
