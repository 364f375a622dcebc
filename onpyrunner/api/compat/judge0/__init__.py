"""A Judge0 CE 1.13.1 compatible API beside the native one (docs/judge0.md).

Mounted under the setting judge0_prefix (default /judge0) and, with judge0_at_root, also
at /. It translates to and from the job pipeline: submissions are jobs, tokens are job ids.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from onpyrunner.api.compat.judge0 import info, routes
from onpyrunner.api.compat.judge0.callbacks import Callbacks
from onpyrunner.api.compat.judge0.state import Judge0
from onpyrunner.api.services import Services
from onpyrunner.settings import Settings


def _router() -> APIRouter:
    router = APIRouter()
    router.include_router(routes.router)
    router.include_router(info.router)
    return router


def install(app: FastAPI, settings: Settings) -> None:
    """Mount the API. Call before the native routers: at the root, Judge0's
    GET /languages must come first to answer there."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        svc = app.state.services
        assert isinstance(svc, Services)
        state = Judge0(svc, Callbacks(settings, svc.store, lambda job: state.render(job)))
        app.state.judge0 = state
        try:
            yield
        finally:
            await state.callbacks.close(settings.shutdown_grace_s)

    if settings.judge0_at_root:
        app.include_router(_router(), include_in_schema=False)
    if settings.judge0_prefix:
        app.include_router(_router(), prefix=settings.judge0_prefix)
    app.include_router(APIRouter(lifespan=lifespan))
