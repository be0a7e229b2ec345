"""Schemathesis against a live ``berth serve``: generated requests for every operation in the
committed schema; whatever they send, the server never answers with a 5xx."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from tests.acceptance.live import LiveServer, live_server

pytestmark = [pytest.mark.acceptance, pytest.mark.slow]
SCHEMA = schemathesis.openapi.from_path(Path(__file__).resolve().parents[2] / "openapi.json")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    # Generated sleep jobs may ask for hours: a short drain keeps shutdown bounded.
    with live_server(
        tmp_path_factory.mktemp("fuzz") / "home",
        BERTH_DRAIN_SECONDS="1",
        BERTH_CANCEL_GRACE_SECONDS="1",
        BERTH_LOAD_WAIT_SECONDS="60",
    ) as live:
        yield live


@SCHEMA.parametrize()
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow],
)
def test_no_request_gets_a_server_error(case: schemathesis.Case, server: LiveServer) -> None:
    response = case.call(base_url=server.url, timeout=120)
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.text}"
