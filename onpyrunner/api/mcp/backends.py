"""Where the MCP tools send their jobs: the native submission path in this process (the
service's own /mcp), or a running service over HTTP (`onpyrunner mcp --url`). Both take a
native request body (POST /execute's) and give the finished job as the native API shows it
(JobPublic's JSON); both say a refusal in the native API's words."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any, Protocol

import httpx
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from websockets.asyncio.client import connect
from websockets.exceptions import WebSocketException

from onpyrunner.api.schemas import JobCreate, JobPublic
from onpyrunner.api.services import Services
from onpyrunner.api.submit import job_request as native_request
from onpyrunner.api.submit import submit_and_wait, sync_wait_s
from onpyrunner.errors import BackendUnavailableError, QueueFullError
from onpyrunner.models import TERMINAL_STATUSES, Origin


class ToolCallError(Exception):
    """The job could not be run; the message says why (the tool's error)."""


class Backend(Protocol):
    """What the tools run jobs with."""

    async def execute(self, body: dict[str, Any]) -> dict[str, Any]:
        """The finished job of a native request body, as the native API shows it.

        Raises:
            ToolCallError: refused (the message names the field), or the service is busy.
        """

    async def languages(self) -> list[dict[str, Any]]:
        """GET /languages."""


def _field_problems(errors: list[Any]) -> str:
    parts = []
    for error in errors:
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {error.get('msg')}")
    return "; ".join(parts)


class ServiceBackend:
    """The native submission path of the service this runs in."""

    def __init__(self, services: Callable[[], Services]) -> None:
        self._services = services

    async def execute(self, body: dict[str, Any]) -> dict[str, Any]:
        svc = self._services()
        try:
            request = await native_request(JobCreate.model_validate(body), svc)
        except (RequestValidationError, ValidationError) as e:
            raise ToolCallError(f"refused: {_field_problems(list(e.errors()))}") from e
        try:
            job = await submit_and_wait(svc, request, sync_wait_s(svc, request), Origin(api="mcp"))
        except QueueFullError as e:
            raise ToolCallError(f"the queue is full; try again in {e.retry_after_s} s") from e
        except BackendUnavailableError as e:
            raise ToolCallError(f"the queue backend is unavailable: {e}") from e
        if job.status not in TERMINAL_STATUSES:
            raise ToolCallError(
                f"job {job.id} did not finish in time; it goes on: GET /jobs/{job.id}"
            )
        return JobPublic.of(job).model_dump(mode="json")

    async def languages(self) -> list[dict[str, Any]]:
        return [
            {"id": info.id, "name": info.name, "version": info.version}
            for info in await self._services().languages()
        ]


#: How long the HTTP backend follows a job past the server's ?wait, at most.
FOLLOW_S = 600.0


class HTTPBackend:
    """A running OnPyRunner service, over its native HTTP API."""

    def __init__(self, url: str, token: str | None = None, timeout_s: float = 60.0) -> None:
        self.url = url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.client = httpx.AsyncClient(base_url=self.url, headers=self.headers, timeout=timeout_s)

    async def close(self) -> None:
        await self.client.aclose()

    async def _answer(self, response: httpx.Response) -> Any:
        if response.status_code >= 400:
            try:
                message = response.json().get("error", response.text)
            except (ValueError, AttributeError):
                message = response.text
            raise ToolCallError(f"the service answered {response.status_code}: {message}")
        return response.json()

    async def execute(self, body: dict[str, Any]) -> dict[str, Any]:
        try:
            response = await self.client.post("/execute", params={"wait": "true"}, json=body)
            job: dict[str, Any] = await self._answer(response)
            if job["status"] not in TERMINAL_STATUSES:
                job = await self._follow(job["job_id"])
        except httpx.HTTPError as e:
            raise ToolCallError(f"cannot reach the service at {self.url}: {e}") from e
        return job

    async def _follow(self, job_id: str) -> dict[str, Any]:
        """The job once it finished: the last message of its events WebSocket."""
        ws_url = self.url.replace("http", "ws", 1) + f"/jobs/{job_id}/events"
        last: dict[str, Any] | None = None
        try:
            async with connect(ws_url, additional_headers=self.headers, open_timeout=10) as ws:
                async with asyncio.timeout(FOLLOW_S):
                    async for message in ws:
                        last = json.loads(message)
        except TimeoutError as e:
            raise ToolCallError(f"job {job_id} did not finish within {FOLLOW_S:g} s") from e
        except (OSError, WebSocketException) as e:
            raise ToolCallError(f"cannot follow job {job_id}: {e}") from e
        if last is None or last.get("status") not in TERMINAL_STATUSES:
            raise ToolCallError(f"job {job_id} did not finish: {last}")
        return last

    async def languages(self) -> list[dict[str, Any]]:
        try:
            found: list[dict[str, Any]] = await self._answer(await self.client.get("/languages"))
        except httpx.HTTPError as e:
            raise ToolCallError(f"cannot reach the service at {self.url}: {e}") from e
        return found
