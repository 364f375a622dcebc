"""The history's settings and flags: where the database is, and turning it off."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from onpyrunner.cli import _settings_from, build_parser
from onpyrunner.errors import ConfigError
from onpyrunner.history.store import HistoryStore
from onpyrunner.settings import Settings


def test_the_default_is_a_sqlite_file_under_the_data_directory(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.history
    assert settings.history_url() == f"sqlite+aiosqlite:///{tmp_path}/history.sqlite3"


def test_a_postgresql_url_gets_the_async_driver_and_hides_its_password() -> None:
    url = "postgresql://onpy:s3cret@db.example:5432/history"
    settings = Settings(database_url=SecretStr(url))
    assert settings.history_url() == "postgresql+asyncpg://onpy:s3cret@db.example:5432/history"
    assert "s3cret" not in repr(settings)
    store = HistoryStore(settings.history_url())
    assert "s3cret" not in store.description


def test_serve_flags_set_the_database_and_turn_the_history_off() -> None:
    args = build_parser().parse_args(
        ["serve", "--database-url", "postgresql://u@h/db", "--no-history"]
    )
    settings = _settings_from(args, Settings())
    assert settings.database_url is not None
    assert settings.database_url.get_secret_value() == "postgresql://u@h/db"
    assert not settings.history


def test_another_kind_of_database_is_refused_at_start() -> None:
    with pytest.raises(ConfigError, match="not supported"):
        HistoryStore("mysql+aiomysql://u@h/db")
