from __future__ import annotations

import pytest

from berth.http.auth import is_loopback, require
from berth.keys.key import Scope

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("host", "local"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("10.0.0.1", False),
        ("203.0.113.5", False),
        ("::ffff:203.0.113.5", False),
        ("2001:db8::1", False),
        ("localhost", False),
        ("testclient", False),
        ("", False),
        (None, False),
    ],
)
def test_only_loopback_addresses_are_local(host: str | None, local: bool) -> None:
    assert is_loopback(host) is local


def test_require_is_one_object_per_scope() -> None:
    assert require("jobs") is require(Scope.JOBS)
    assert require("jobs") is not require("infer")
    with pytest.raises(ValueError, match="root"):
        require("root")
