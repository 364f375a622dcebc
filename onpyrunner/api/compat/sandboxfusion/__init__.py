"""A SandboxFusion compatible API beside the native one (docs/sandboxfusion.md).

Mounted at the root (setting sandboxfusion_at_root: its paths, /run_code and /v1/ping, are
free there, and SandboxFusion's clients post there) and under sandboxfusion_prefix. A
run_code is a job waited for.
"""

from __future__ import annotations

from fastapi import FastAPI

from onpyrunner.api.compat.sandboxfusion import routes
from onpyrunner.settings import Settings


def install(app: FastAPI, settings: Settings) -> None:
    """Mount the API at the root and under the prefix, as the settings say."""
    if settings.sandboxfusion_at_root:
        app.include_router(routes.router, include_in_schema=not settings.sandboxfusion_prefix)
    if settings.sandboxfusion_prefix:
        app.include_router(routes.router, prefix=settings.sandboxfusion_prefix)
