"""The app in-process, its lifespan running, and a client of it: for the API tests that
need no server and no sandbox (a queue-only app answers what the API itself decides)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from onpyrunner.api.services import Services
from onpyrunner.service import create_app
from onpyrunner.settings import Settings


def app_fixtures(settings: Settings, base_url: str = "http://test") -> tuple[Any, Any]:
    """Module-scoped fixtures `app` and `client` (a 500 is answered, not raised); bind them
    to those names in the test module: `app, client = app_fixtures(...)`. The history is
    a SQLite file of the module's own: the default is the service's own database, under
    /var/lib/onpyrunner, which a test must not write (and a non-root user cannot)."""

    @pytest.fixture(scope="module")
    async def app(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[FastAPI]:
        database = tmp_path_factory.mktemp("history") / "history.sqlite3"
        own = {"database_url": SecretStr(f"sqlite+aiosqlite:///{database}")}
        built = create_app(settings.model_copy(update=own))
        async with built.router.lifespan_context(built):
            yield built

    @pytest.fixture(scope="module")
    async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as c:
            yield c

    return app, client


def services_of(app: FastAPI) -> Services:
    """The Services of an in-process app."""
    found = app.state.services
    assert isinstance(found, Services)
    return found
