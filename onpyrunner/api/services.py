"""What the routes need, built by the service's assembly (service.py) and reached through
the request. The API sees the job store, the limit table, the language catalogue and the
metrics; never the sandbox or the workers themselves."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from starlette.requests import HTTPConnection

from onpyrunner.errors import HistoryOffError
from onpyrunner.history.store import HistoryStore
from onpyrunner.history.writer import HistoryWriter
from onpyrunner.languages.catalogue import shipped_ids
from onpyrunner.limits import LimitTable
from onpyrunner.metrics import Metrics
from onpyrunner.queue.store import JobStore, LanguageInfo
from onpyrunner.settings import Settings

LANGUAGES_CACHE_S = 2.0


@dataclass
class Services:
    """The app's collaborators."""

    settings: Settings
    limits: LimitTable
    store: JobStore
    metrics: Metrics
    backend: str
    #: Whether this process's own workers still run; None when it has none.
    workers_alive: Callable[[], bool] | None = None
    #: The history database and its writer; None when the history is off.
    history: HistoryStore | None = None
    history_writer: HistoryWriter | None = None
    _languages: tuple[float, list[LanguageInfo]] | None = field(default=None)

    async def languages(self) -> list[LanguageInfo]:
        """Runtimes offered by live workers, cached for a moment (an empty list too: a
        queue-only API with no worker yet must not ask Redis on every submit)."""
        now = time.monotonic()
        if self._languages is None or now - self._languages[0] > LANGUAGES_CACHE_S:
            self._languages = (now, await self.store.languages())
        return self._languages[1]

    async def accepted_languages(self) -> frozenset[str]:
        """The languages a job may ask for now: those of the live workers; when no worker
        is alive at all, every shipped one (the job waits for a worker that has it)."""
        live = frozenset(info.id for info in await self.languages())
        return live or shipped_ids()

    def history_store(self) -> HistoryStore:
        """The history database.

        Raises:
            HistoryOffError: the history is off on this server.
        """
        if self.history is None:
            raise HistoryOffError("the history is off on this server (setting history)")
        return self.history


def services(conn: HTTPConnection) -> Services:
    """The Services of the app serving this request or WebSocket."""
    found = conn.app.state.services
    assert isinstance(found, Services)
    return found


async def services_dependency(conn: HTTPConnection) -> Services:
    """`services` as a FastAPI dependency (async: a sync one would cost a thread hop)."""
    return services(conn)
