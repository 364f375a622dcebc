"""History stores on both engines: SQLite in a temporary file, and PostgreSQL in a database
of the test's own on the machine's server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from onpyrunner.history.store import HistoryStore
from tests.history.postgres import emptied, own_database

ENGINES = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
async def postgres_database() -> AsyncIterator[str]:
    """One PostgreSQL database of this session's own (creating one takes 0.1-0.2 s: once,
    not per test)."""
    async with own_database() as url:
        yield url


@pytest.fixture(params=ENGINES)
async def db_url(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_database: str
) -> AsyncIterator[str]:
    """A fresh, empty history database's URL, once per engine (PostgreSQL: the session's
    database, its schema dropped and made again)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'history.sqlite3'}"
        return
    await emptied(postgres_database)
    yield postgres_database


@pytest.fixture
async def history(db_url: str) -> AsyncIterator[HistoryStore]:
    """A migrated history store that keeps texts (64 bytes of each)."""
    store = HistoryStore(db_url, keep_content_bytes=64)
    await store.prepare()
    try:
        yield store
    finally:
        await store.close()
