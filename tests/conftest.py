"""Shared fixtures: settings and one real sandbox pool for the whole session."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from _pytest.mark.expression import Expression

from onpyrunner.sandbox.pool import Sandbox
from onpyrunner.settings import Settings
from tests.service import uid_base


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings(sandbox_uid_base=uid_base())


@pytest.fixture(scope="session")
async def sandbox(settings: Settings) -> AsyncIterator[Sandbox]:
    pool = await Sandbox.start(settings)
    try:
        yield pool
    finally:
        await pool.close()


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """The fuzz module builds its hundreds of schema cases while it is collected (about
    half of the quick loop's time): it is not collected at all when the run's -m expression
    deselects fuzz tests (the quick loop, `-m "not sandbox and not fuzz"`)."""
    if collection_path.name != "test_fuzz.py" or not config.option.markexpr:
        return None

    def marked(name: str, /, **_: str | int | bool | None) -> bool:
        return name == "fuzz"

    return True if not Expression.compile(config.option.markexpr).evaluate(marked) else None
