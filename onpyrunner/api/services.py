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
    _languages: tuple[float, list[LanguageInfo]] | None = field(default=None)

    async def languages(self) -> list[LanguageInfo]:
        """Runtimes offered by live workers, cached for a moment (an empty list too: a
        queue-only API with no worker yet must not ask Redis on every submit)."""
        now = time.monotonic()
        if self._languages is None or now - self._languages[0] > LANGUAGES_CACHE_S:
            self._languages = (now, await self.store.languages())
        return self._languages[1]


def services(conn: HTTPConnection) -> Services:
    """The Services of the app serving this request or WebSocket."""
    found = conn.app.state.services
    assert isinstance(found, Services)
    return found


async def services_dependency(request: Request) -> Services:
    """`services` as a FastAPI dependency (async: a sync one would cost a thread hop)."""
    return services(request)
