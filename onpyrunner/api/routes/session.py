"""Live sessions: WS /jobs/{job_id}/session, a person (or a program) talking to a running
interactive job.

The client sends `{"type": "stdin", "data"}`, `{"type": "close_stdin"}` and
`{"type": "signal", "signal": "SIGINT" | "SIGTERM" | "SIGKILL"}`; the server sends
`{"type": "job", "job"}` on each change of the job, `{"type": "started"}` once the program
runs, `{"type": "stdout" | "stderr", "data"}` as the program writes, and the finished job
last, then closes (1000). A message the server cannot take is answered with
`{"type": "error", "error"}` and the session goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from onpyrunner.aio import stop
from onpyrunner.api import live
from onpyrunner.api.schemas import JobPublic
from onpyrunner.api.services import Services, services
from onpyrunner.errors import BackendUnavailableError, JobNotFoundError
from onpyrunner.models import TERMINAL_STATUSES
from onpyrunner.queue.session import (
    Command,
    CommandKind,
    OutputKind,
    Signal,
    stdin_pieces,
)

router = APIRouter(tags=["jobs"])

#: Close codes: the job is unknown (as the events WebSocket), not interactive.
CLOSE_NOT_FOUND = 4404
CLOSE_NOT_INTERACTIVE = 4409

Send = Callable[[dict[str, Any]], Awaitable[None]]


class CommandError(ValueError):
    """A client message that is no command."""


def parse_command(text: str) -> list[Command]:
    """The commands of one client message.

    Raises:
        CommandError: not a command; says why.
    """
    try:
        message = json.loads(text)
    except ValueError as e:
        raise CommandError(f"not JSON: {e}") from e
    kind = message.get("type") if isinstance(message, dict) else None
    if kind == CommandKind.STDIN:
        data = message.get("data")
        if not isinstance(data, str):
            raise CommandError('stdin needs "data", a string')
        return stdin_pieces(data)
    if kind == CommandKind.CLOSE_STDIN:
        return [Command(CommandKind.CLOSE_STDIN)]
    if kind == CommandKind.SIGNAL:
        name = message.get("signal")
        if name not in Signal.__members__:
            raise CommandError(f'"signal" must be one of {", ".join(Signal.__members__)}')
        return [Command(CommandKind.SIGNAL, str(name))]
    raise CommandError('"type" must be "stdin", "close_stdin" or "signal"')


def lock_send(websocket: WebSocket) -> Send:
    """A send of JSON messages that two tasks may share."""
    lock = asyncio.Lock()

    async def send(message: dict[str, Any]) -> None:
        async with lock:
            await websocket.send_json(message)

    return send


async def run_both(*coroutines: Awaitable[None]) -> None:
    """Run the coroutines until the first ends; cancel the others."""
    tasks: list[asyncio.Task[None]] = [asyncio.ensure_future(c) for c in coroutines]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        results = await stop(tasks)
    for result in results:
        if isinstance(result, Exception) and not isinstance(result, WebSocketDisconnect):
            raise result


@router.websocket("/jobs/{job_id}/session")
async def job_session(websocket: WebSocket, job_id: str) -> None:
    """Talk to a running interactive job: stdin, its end and signals in; its output as it
    is written, its changes and the finished job out."""
    svc = services(websocket)
    await websocket.accept()
    send = lock_send(websocket)
    try:
        job = await svc.store.get(job_id)
        if job is None:
            await send({"type": "error", "error": str(JobNotFoundError(job_id))})
            await websocket.close(code=CLOSE_NOT_FOUND)
            return
        if not job.interactive:
            await send(
                {
                    "type": "error",
                    "error": f'job {job_id} is not interactive: submit it with "interactive": '
                    "true (its events are at /jobs/{job_id}/events)",
                }
            )
            await websocket.close(code=CLOSE_NOT_INTERACTIVE)
            return
        async with svc.store.sessions.attach(job_id):
            await run_both(
                _relay(websocket, send, svc, job_id), _commands(websocket, send, svc, job_id)
            )
    except WebSocketDisconnect:
        return
    except BackendUnavailableError as e:
        with contextlib.suppress(Exception):
            await send({"type": "error", "error": f"the queue backend is unavailable: {e}"})
            await websocket.close(code=1011)


async def _relay(websocket: WebSocket, send: Send, svc: Services, job_id: str) -> None:
    async with live.following(svc.store, job_id, True, svc.settings.job_ttl_s) as follower:
        last: Any = None
        async for item in follower.items():
            if isinstance(item, live.Written):
                for entry in item.entries:
                    if entry.kind is OutputKind.STARTED:
                        await send({"type": "started"})
                    else:
                        await send({"type": entry.kind.value, "data": entry.data})
            elif isinstance(item, live.Change):
                view = JobPublic.of(item.job).model_dump(mode="json")
                seen = (view["status"], view["progress"])
                if seen != last:
                    await send({"type": "job", "job": view})
                    last = seen
                if item.job.status in TERMINAL_STATUSES:
                    break
            else:
                await send({"type": "error", "error": str(JobNotFoundError(job_id))})
                await websocket.close(code=CLOSE_NOT_FOUND)
                return
    await websocket.close(code=1000)


async def _commands(websocket: WebSocket, send: Send, svc: Services, job_id: str) -> None:
    """Take the client's messages until it goes away (the job's end closes the socket)."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text")
        if text is None:
            text = (message.get("bytes") or b"").decode(errors="replace")
        try:
            commands = parse_command(text)
        except CommandError as e:
            await send({"type": "error", "error": str(e)})
            continue
        for command in commands:
            await svc.store.sessions.send(job_id, command)
