"""The MCP server (tools run_code, judge, list_languages), for agents: over streamable
HTTP at /mcp on the service (behind its tokens), and over stdio (`onpyrunner mcp --url`)
talking to a running service. docs/mcp.md."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from onpyrunner.api.mcp.backends import ServiceBackend
from onpyrunner.api.mcp.server import build
from onpyrunner.api.services import Services
from onpyrunner.settings import Settings


class _Endpoint:
    """The /mcp route: the MCP server's streamable HTTP app of the current lifespan (a
    session manager runs once, so each lifespan of the app makes its own)."""

    def __init__(self) -> None:
        self.app: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.app is None:
            response = JSONResponse({"error": "the MCP server is not running"}, status_code=503)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def install(app: FastAPI, settings: Settings) -> None:
    """Serve the MCP server at settings.mcp_path (stateless streamable HTTP, JSON answers:
    any API replica answers any call); its tools use the native path of this app."""
    if not settings.mcp_path:
        return

    def services() -> Services:
        found = app.state.services
        assert isinstance(found, Services)
        return found

    server = build(ServiceBackend(services))
    endpoint = _Endpoint()
    app.router.routes.append(Route(settings.mcp_path, endpoint=endpoint))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        http = server.streamable_http_app(
            streamable_http_path=settings.mcp_path,
            stateless_http=True,
            json_response=True,
            host=settings.host,
        )
        manager = server.session_manager
        running = asyncio.Event()
        stop = asyncio.Event()

        async def hold() -> None:  # the manager's task group: entered and left in one task
            async with manager.run():
                running.set()
                await stop.wait()

        task = asyncio.create_task(hold())
        waiting = asyncio.create_task(running.wait())
        await asyncio.wait([task, waiting], return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()
        if task.done():
            task.result()  # it failed to start: raise why
        endpoint.app = http
        try:
            yield
        finally:
            endpoint.app = None
            stop.set()
            await task

    app.include_router(APIRouter(lifespan=lifespan))
