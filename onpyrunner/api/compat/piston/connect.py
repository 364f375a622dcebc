"""Piston v2's WebSocket, WS /connect, on top of a native live session.

The client sends `{"type": "init", ...}` (an execute request) within a second, then
`{"type": "data", "stream": "stdin", "data"}` and `{"type": "signal", "signal"}`; the
server answers `{"type": "runtime", language, version}`, then `{"type": "stage", stage}`,
`{"type": "data", stream, data}` as the program writes, `{"type": "exit", stage, code,
signal}` per stage, and closes with 4999 "Job Completed". Piston's close codes for the
rest: 4000 already initialized, 4001 no init within a second, 4002 an error it said first
(`{"type": "error", "message"}`), 4003 data or a signal before init, 4004 data not on
stdin, 4005 a signal that is not one (here: SIGINT, SIGTERM and SIGKILL are offered).

Stages: a compiled language's session starts in "compile" and moves to "run" when the
program starts (the native session's start mark); the others start in "run".
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from onpyrunner.api import live
from onpyrunner.api.compat.piston import translate
from onpyrunner.api.compat.piston.routes import ORIGIN, native_request, offered
from onpyrunner.api.compat.piston.translate import PistonError, PistonRequest
from onpyrunner.api.routes.session import lock_send, run_both
from onpyrunner.api.services import Services, services
from onpyrunner.api.submit import submit
from onpyrunner.errors import (
    BackendUnavailableError,
    JobFinishedError,
    JobNotFoundError,
    QueueFullError,
)
from onpyrunner.models import JobStatus, Outcome, RunResult
from onpyrunner.queue.session import Command, CommandKind, OutputKind, Signal, stdin_pieces

router = APIRouter()

_GONE = (JobFinishedError, JobNotFoundError, BackendUnavailableError)
#: How long a client has to send its init.
INIT_TIMEOUT_S = 1.0


class Closed(Exception):
    """The session ends with a close code and reason."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


async def _message(websocket: WebSocket, timeout_s: float | None = None) -> dict[str, Any]:
    """The client's next JSON message (an object)."""
    if timeout_s is None:
        raw = await websocket.receive()
    else:
        try:
            async with asyncio.timeout(timeout_s):
                raw = await websocket.receive()
        except TimeoutError as e:
            raise Closed(4001, "Initialization Timeout") from e
    if raw["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(raw.get("code", 1000))
    text = raw.get("text")
    if not isinstance(text, str):
        text = (raw.get("bytes") or b"").decode(errors="replace")
    try:
        message = json.loads(text)
    except ValueError as e:
        raise PistonError(str(e)) from e
    if not isinstance(message, dict):
        raise PistonError("a message must be a JSON object")
    return message


@router.websocket("/connect")
async def connect(websocket: WebSocket) -> None:
    """Piston's interactive protocol over a native live session."""
    svc = services(websocket)
    await websocket.accept()
    send = lock_send(websocket)
    try:
        try:
            message = await _message(websocket, INIT_TIMEOUT_S)
            if message.get("type") in ("data", "signal"):
                raise Closed(4003, "Not yet Initialized")
            if message.get("type") != "init":
                raise Closed(4003, "Not yet Initialized")
            parsed = translate.parse(
                message,
                await offered(svc),
                svc.settings.piston_strict_versions,
                interactive=True,
            )
            job_req = await native_request(svc, parsed, interactive=True)
            job = await submit(svc, job_req, ORIGIN)
            try:
                await send(
                    {
                        "type": "runtime",
                        "language": parsed.language.language,
                        "version": parsed.version,
                    }
                )
                async with svc.store.sessions.attach(job.id):
                    await run_both(
                        _relay(send, svc, job.id, parsed), _commands(websocket, svc, job.id)
                    )
            finally:  # the session is the socket's: a job it leaves behind is stopped
                with contextlib.suppress(*_GONE):
                    await svc.store.cancel(job.id, "the Piston /connect client left")
            raise Closed(4999, "Job Completed")
        except (PistonError, QueueFullError, BackendUnavailableError) as e:
            text = e.message if isinstance(e, PistonError) else str(e)
            await send({"type": "error", "message": text})
            raise Closed(4002, "Notified Error") from e
    except Closed as e:
        with contextlib.suppress(Exception):
            await websocket.close(code=e.code, reason=e.reason)
    except WebSocketDisconnect:
        return


async def _relay(send: Any, svc: Services, job_id: str, request: PistonRequest) -> None:
    """The session's output and stages, in Piston's messages."""
    compiled = request.language.compiled
    stage: str | None = None
    async with live.following(svc.store, job_id, True, svc.settings.job_ttl_s) as follower:
        async for item in follower.items():
            if isinstance(item, live.Written):
                for entry in item.entries:
                    if entry.kind is OutputKind.STARTED:
                        if stage == "compile":
                            await send(
                                {"type": "exit", "stage": "compile", "code": 0, "signal": None}
                            )
                        if stage != "run":
                            stage = "run"
                            await send({"type": "stage", "stage": "run"})
                    else:
                        await send({"type": "data", "stream": entry.kind.value, "data": entry.data})
            elif isinstance(item, live.Change):
                job = item.job
                if job.status is JobStatus.RUNNING and stage is None:
                    stage = "compile" if compiled else "run"
                    await send({"type": "stage", "stage": stage})
                elif job.status in (JobStatus.FAILED, JobStatus.CANCELLED):
                    raise PistonError(translate.failure_stage(job)["message"])
                elif job.status is JobStatus.COMPLETED and isinstance(job.result, RunResult):
                    await _exit(send, job.result, stage, job.limits)
                    return
            else:
                raise PistonError(f"job {job_id} is gone (expired)")


async def _exit(send: Any, result: RunResult, stage: str | None, limits: Any) -> None:
    """The last stage's exit (a failed compile's output first)."""
    if result.outcome is Outcome.COMPILE_ERROR:
        if stage != "compile":
            await send({"type": "stage", "stage": "compile"})
        compiled = translate.compile_stage(result)
        if compiled["stderr"]:
            await send({"type": "data", "stream": "stderr", "data": compiled["stderr"]})
        await send(
            {
                "type": "exit",
                "stage": "compile",
                "code": compiled["code"],
                "signal": compiled["signal"],
            }
        )
        return
    if stage != "run":
        await send({"type": "stage", "stage": "run"})
    run = translate.run_stage(result, limits)
    await send(_exit_message("run", run["code"], run["signal"]))


def _exit_message(stage: str, code: int | None, signal: str | None) -> dict[str, Any]:
    return {"type": "exit", "stage": stage, "code": code, "signal": signal}


async def _commands(websocket: WebSocket, svc: Services, job_id: str) -> None:
    """The client's data and signals, to the program."""
    while True:
        message = await _message(websocket)
        kind = message.get("type")
        if kind == "init":
            raise Closed(4000, "Already Initialized")
        if kind == "data":
            if message.get("stream") != "stdin":
                raise Closed(4004, "Can only write to stdin")
            data = message.get("data")
            commands = stdin_pieces(data) if isinstance(data, str) else []
        elif kind == "signal":
            name = message.get("signal")
            if name not in Signal.__members__:
                raise Closed(4005, "Invalid signal")
            commands = [Command(CommandKind.SIGNAL, str(name))]
        else:
            continue  # Piston ignores other types
        for command in commands:
            await svc.store.sessions.send(job_id, command)
