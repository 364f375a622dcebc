"""What the routes need, built once in the app's lifespan and reached through the request."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from starlette.requests import HTTPConnection, Request

from onpyrunner.metrics import Metrics
from onpyrunner.queue.store import JobStore, LanguageInfo
from onpyrunner.sandbox.pool import Sandbox
from onpyrunner.settings import Settings
from onpyrunner.worker.loop import Worker

LANGUAGES_CACHE_S = 2.0


@dataclass
class Services:
    """The app's collaborators."""

    settings: Settings
    store: JobStore
    metrics: Metrics
    backend: str
    sandbox: Sandbox | None = None
    worker: Worker | None = None
    _languages: tuple[float, list[LanguageInfo]] = field(default=(0.0, []))

    async def languages(self) -> list[LanguageInfo]:
        """Runtimes offered by live workers, cached for a moment."""
        at, cached = self._languages
        if time.monotonic() - at > LANGUAGES_CACHE_S or not cached:
            cached = await self.store.languages()
            self._languages = (time.monotonic(), cached)
        return cached


def services(conn: HTTPConnection) -> Services:
    """The Services of the app serving this request or WebSocket."""
    found = conn.app.state.services
    assert isinstance(found, Services)
    return found


async def services_dependency(request: Request) -> Services:
    """`services` as a FastAPI dependency (async: a sync one would cost a thread hop)."""
    return services(request)
