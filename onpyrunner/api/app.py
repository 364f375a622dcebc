"""The app factory and its lifespan: store, sandbox and in-process workers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from onpyrunner import __version__
from onpyrunner.api import auth, errors, judge0
from onpyrunner.api.body import BodyLimit
from onpyrunner.api.routes import jobs, system
from onpyrunner.api.services import Services
from onpyrunner.metrics import Metrics
from onpyrunner.queue.memory import MemoryStore
from onpyrunner.queue.redis import RedisStore
from onpyrunner.queue.store import JobStore
from onpyrunner.sandbox.pool import Sandbox
from onpyrunner.settings import Settings
from onpyrunner.web import page
from onpyrunner.worker.loop import Worker

log = logging.getLogger(__name__)


def in_process_workers(settings: Settings) -> int:
    """Concurrent runs of `serve`'s own workers: the setting, else one per core without
    Redis and none with it."""
    if settings.workers is not None:
        return settings.workers
    return 0 if settings.redis_url else settings.effective_concurrency()


def make_store(settings: Settings) -> tuple[JobStore, str]:
    if settings.redis_url:
        return RedisStore(settings, settings.redis_url), "redis"
    return MemoryStore(settings), "memory"


def create_app(settings: Settings | None = None) -> FastAPI:
    """The ASGI app. Nothing starts until the lifespan runs."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store, backend = make_store(settings)
        await store.open()
        services = Services(settings, store, Metrics(), backend)
        workers = in_process_workers(settings)
        try:
            if workers:
                services.sandbox = await Sandbox.start(
                    settings.model_copy(update={"concurrency": workers})
                )
                services.metrics.watch_compile_cache(services.sandbox.compile_stats)
                services.worker = Worker(
                    store, services.sandbox, settings, workers, services.metrics
                )
                services.worker.start()
            app.state.services = services
            log.info(
                "OnPyRunner %s: %s backend, %d in-process workers", __version__, backend, workers
            )
            yield
        finally:
            if services.worker is not None:
                await services.worker.drain(settings.shutdown_grace_s)
            if services.sandbox is not None:
                await services.sandbox.close()
            await store.close()

    app = FastAPI(
        title="OnPyRunner",
        version=__version__,
        description="Run untrusted code in nsjail and judge it against test cases.",
        lifespan=lifespan,
    )
    errors.install(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    if settings.auth_tokens:  # outermost: refuse before reading a body
        app.add_middleware(
            auth.TokenAuth, tokens=[t.get_secret_value() for t in settings.auth_tokens]
        )
    judge0.install(app, settings)  # first: at the root, its GET /languages wins
    app.include_router(jobs.router)
    app.include_router(system.router)
    app.include_router(page.router())
    if settings.auth_tokens:  # built now, once every route is in: the 401s are documented
        app.openapi_schema = auth.document(app.openapi())
    return app
