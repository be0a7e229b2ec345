"""The vector stores pages in a real browser: the list of stores, one store's files, and its
search box, checked with axe-core."""

from __future__ import annotations

import io

import openai
import pytest
from playwright.sync_api import Page, expect

from tests.acceptance.live import LiveServer
from tests.browser.conftest import snap

pytestmark = [pytest.mark.acceptance, pytest.mark.slow]
HARBOUR = "Fishing boats leave the harbour before sunrise; the lighthouse guides ships at night."
BREAD = "To bake bread, knead flour, water, salt and yeast, let it rise, then bake it."


def test_a_store_is_listed_and_searched_from_its_page(page: Page, server: LiveServer) -> None:
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="none", max_retries=0)
    store = client.vector_stores.create(name="Shore notes")
    for name, text in (("harbour.md", HARBOUR), ("bread.txt", BREAD)):
        done = client.vector_stores.files.upload_and_poll(
            vector_store_id=store.id, file=(name, io.BytesIO(text.encode()))
        )
        assert done.status == "completed"
    page.goto(f"{server.url}/vectors")
    row = page.get_by_role("row", name="Shore notes")
    expect(row).to_contain_text("2 of 2")
    snap(page, "vectors")
    page.get_by_role("link", name="Shore notes").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Shore notes")
    page.get_by_label("Search").fill("ships and a lighthouse")
    page.get_by_role("button", name="Search").click()
    first = page.locator("ol.results li").first
    expect(first).to_contain_text("harbour.md")
    expect(first).to_contain_text("lighthouse guides ships")
    snap(page, "vector-store")
