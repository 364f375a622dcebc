"""A Piston v2 compatible API beside the native one (docs/piston.md).

Mounted under the setting piston_prefix (default /api/v2) and under <prefix>/piston too
(the public instance's paths, which many clients hard-code). It translates to and from
the job pipeline: an execute is a job waited for, a /connect session an interactive job.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from onpyrunner.api.compat.piston import connect, routes
from onpyrunner.settings import Settings


def install(app: FastAPI, settings: Settings) -> None:
    """Mount the API at the prefix and at <prefix>/piston."""
    if not settings.piston_prefix:
        return
    for prefix in (settings.piston_prefix, f"{settings.piston_prefix}/piston"):
        router = APIRouter()
        router.include_router(routes.router)
        router.include_router(connect.router)
        app.include_router(
            router, prefix=prefix, include_in_schema=prefix == settings.piston_prefix
        )
