from __future__ import annotations

from pathlib import Path

import pydantic
import pytest

from berth.settings import Settings

pytestmark = pytest.mark.unit


def test_environment_sets_fields(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("BERTH_HOME", str(tmp_path))
    monkeypatch.setenv("BERTH_CONCURRENCY", "7")
    monkeypatch.setenv("BERTH_KIND_CONCURRENCY", '{"sleep": 2}')
    settings = Settings()
    assert settings.home == tmp_path
    assert settings.concurrency == 7
    assert settings.kind_concurrency == {"sleep": 2}
    assert settings.resolved_database_url == f"sqlite:///{tmp_path.resolve() / 'berth.db'}"
    assert settings.outputs_dir == tmp_path / "outputs"


def test_explicit_database_url_wins() -> None:
    settings = Settings(database_url="postgresql://u@h/db")
    assert settings.resolved_database_url == "postgresql://u@h/db"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("concurrency", 0, "greater than 0"),
        ("heartbeat_seconds", 40.0, "shorter than lease_seconds"),
        ("kind_concurrency", {"sleep": -1}, "greater than 0"),
    ],
)
def test_bad_values_are_refused(field: str, value: object, message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=message):
        Settings(**{field: value})  # type: ignore[arg-type]
