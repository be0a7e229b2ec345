from __future__ import annotations

import pytest

from berth import errors
from berth.jobs.supervisor import backoff
from berth.kinds.builtin import SleepInput
from berth.plugins import discover

pytestmark = pytest.mark.unit


def test_input_is_validated_with_field_names() -> None:
    sleep = discover().kind("sleep")
    assert sleep.parse({"seconds": 2}) == SleepInput(seconds=2)
    with pytest.raises(errors.InvalidJobInput, match="seconds: Input should be a valid number"):
        sleep.parse({"seconds": "soon"})
    with pytest.raises(errors.InvalidJobInput, match="colour: Extra inputs are not permitted"):
        sleep.parse({"colour": "red"})
    with pytest.raises(errors.InvalidJobInput, match="journal: String should match pattern"):
        sleep.parse({"journal": "../../etc/passwd"})


def test_echo_takes_any_json() -> None:
    assert discover().kind("echo").parse([1, {"a": None}]) == [1, {"a": None}]


@pytest.mark.parametrize(("attempt", "low", "high"), [(1, 0.9, 1.1), (3, 3.6, 4.4), (20, 54, 66)])
def test_backoff_doubles_up_to_the_cap(attempt: int, low: float, high: float) -> None:
    for _ in range(50):
        assert low <= backoff(attempt, base=1.0, cap=60.0) <= high
