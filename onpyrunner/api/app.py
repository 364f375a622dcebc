"""The API app factory: routes, middleware and error mapping over a Services provider.

The API does not build what it serves: the service's assembly (service.py) hands it a
provider of Services (the job store, the limits, the metrics, and whether this process's
own workers live), entered for the app's lifespan.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI

from onpyrunner import __version__
from onpyrunner.api import auth, errors, mcp
from onpyrunner.api.body import BodyLimit
from onpyrunner.api.compat import judge0, piston, sandboxfusion
from onpyrunner.api.routes import batches, history, jobs, session, system, testsets
from onpyrunner.api.services import Services
from onpyrunner.settings import Settings
from onpyrunner.web import page

ServicesProvider = Callable[[], AbstractAsyncContextManager[Services]]

log = logging.getLogger(__name__)


def create_api(settings: Settings, provide: ServicesProvider) -> FastAPI:
    """The ASGI app. Nothing starts until its lifespan enters `provide()`."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with provide() as services:
            app.state.services = services
            yield

    app = FastAPI(
        title="OnPyRunner",
        version=__version__,
        description="Run untrusted code in nsjail and judge it against test cases.",
        lifespan=lifespan,
    )
    errors.install(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    if settings.auth_tokens:  # outermost: refuse before reading a body
        tokens = [t.get_secret_value() for t in settings.auth_tokens]
        ids = [auth.token_id(t) for t in tokens]
        log.info("API tokens required: %d, with ids %s", len(ids), ", ".join(ids))
        app.add_middleware(auth.TokenAuth, tokens=tokens, ids=ids)
    judge0.install(app, settings)  # first: at the root, its GET /languages wins
    piston.install(app, settings)
    sandboxfusion.install(app, settings)
    mcp.install(app, settings)
    app.include_router(jobs.router)
    app.include_router(session.router)
    app.include_router(history.router)
    app.include_router(system.router)
    app.include_router(testsets.router)
    app.include_router(batches.router)
    app.include_router(page.router())
    if settings.auth_tokens:  # built now, once every route is in: the 401s are documented
        app.openapi_schema = auth.document(app.openapi())
    return app
