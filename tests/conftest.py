"""Shared fixtures: settings and one real sandbox pool for the whole session."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

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
