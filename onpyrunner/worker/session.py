"""A live run on the worker's side: the sandbox's Live (sandbox/live.py) connected to the
job store's session channels (queue/session.py).

Output: every chunk the program writes (within its output limit) is decoded as UTF-8 text
(a character cut between two chunks is kept for the next) and appended to a pending list;
one publisher sends what is pending to the store, one batch at a time, so chunks written
while a batch is on its way go out together in the next. The pending list never outgrows
the run's output limit (the sandbox stops the program there), and the publisher never
waits for a client.

Input (interactive jobs): a receiver takes the session's commands one at a time; a signal
reaches the program at once, stdin and its end go to a writer through a small queue, and
the writer waits while the program's stdin pipe is full (Live.write), so the receiver
stops taking commands while the program does not read. The receiver also ends a session
no client has been attached to for `idle_s`.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import logging
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from onpyrunner.aio import stop
from onpyrunner.errors import BackendUnavailableError
from onpyrunner.models import JobRequest, RunResult
from onpyrunner.queue.session import (
    MAX_PENDING_INPUTS,
    START,
    CommandKind,
    Output,
    OutputKind,
    Sessions,
    Signal,
)
from onpyrunner.sandbox.live import Live

log = logging.getLogger(__name__)

#: How often the receiver looks whether a client is attached, at most.
PRESENCE_CHECK_S = 1.0
#: Initial stdin goes to the program in pieces of this size (each waits for pipe room).
STDIN_PIECE_BYTES = 64 * 1024
SIGNALS = {
    Signal.SIGINT: signal.SIGINT,
    Signal.SIGTERM: signal.SIGTERM,
    Signal.SIGKILL: signal.SIGKILL,
}


@dataclass(frozen=True)
class SessionLink:
    """Where a live job's traffic goes: its store's session channels, and what to do when
    its session is idle (no client attached for idle_s)."""

    sessions: Sessions
    job_id: str
    idle_s: float
    on_idle: Callable[[], Awaitable[object]]


class LiveRun:
    """One live run: make it, `await run(start)`, where start runs the program with
    `self.live`."""

    def __init__(self, request: JobRequest, link: SessionLink | None) -> None:
        self.request = request
        self.link = link if request.live else None
        self.live = Live(self._output)
        self._decoders = {
            kind: codecs.getincrementaldecoder("utf-8")(errors="replace")
            for kind in (OutputKind.STDOUT, OutputKind.STDERR)
        }
        self._interleaved: list[str] | None = [] if request.interleave_output else None
        self._pending: list[Output] = []
        self._wake = asyncio.Event()
        self._started_sent = False
        self._closing = False
        self._inputs: asyncio.Queue[tuple[CommandKind, str]] = asyncio.Queue(MAX_PENDING_INPUTS)

    # --- output --------------------------------------------------------------------------
    def _add(self, kind: OutputKind, text: str) -> None:
        """Queue output for publishing; the STARTED mark comes before any output."""
        if self.link is None or not (text or kind is OutputKind.STARTED):
            return
        if not self._started_sent:
            self._started_sent = True
            self._pending.append(Output(OutputKind.STARTED))
        if kind is not OutputKind.STARTED:
            last = self._pending[-1] if self._pending else None
            if last is not None and last.kind is kind:
                self._pending[-1] = Output(kind, last.data + text)
            else:
                self._pending.append(Output(kind, text))
        self._wake.set()

    def _output(self, stream: str, data: bytes) -> None:
        kind = OutputKind(stream)
        text = self._decoders[kind].decode(data)
        if self._interleaved is not None:
            self._interleaved.append(text)
        self._add(kind, text)

    async def _publish(self) -> None:
        assert self.link is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._pending = self._pending, []
            if batch:
                try:
                    await self.link.sessions.publish(self.link.job_id, batch)
                except BackendUnavailableError as e:
                    log.warning("job %s: output not published: %s", self.link.job_id, e)
            if self._closing and not self._pending:
                return

    async def _mark_start(self) -> None:
        await self.live.started.wait()
        self._add(OutputKind.STARTED, "")

    # --- input -----------------------------------------------------------------------------
    async def _write(self) -> None:
        """Initial stdin, then (interactive) what clients send, into the program's stdin."""
        data = self.request.stdin.encode()
        for i in range(0, len(data), STDIN_PIECE_BYTES):
            if not await self.live.write(data[i : i + STDIN_PIECE_BYTES]):
                return
        if not self.request.interactive:
            self.live.close_stdin()
            return
        while True:
            kind, text = await self._inputs.get()
            if kind is CommandKind.CLOSE_STDIN:
                self.live.close_stdin()
                return
            if not await self.live.write(text.encode()):
                return

    async def _receive(self) -> None:
        """Take the session's commands; end the session when it is idle."""
        link = self.link
        assert link is not None
        last_seen = time.monotonic()
        checked = 0.0
        cursor = START
        while True:
            try:
                command, cursor = await link.sessions.receive(link.job_id, cursor, PRESENCE_CHECK_S)
            except BackendUnavailableError as e:
                log.warning("job %s: session input unavailable: %s", link.job_id, e)
                command = None
                await asyncio.sleep(PRESENCE_CHECK_S)
            except Exception:  # never let the session's input die unseen: said, then again
                log.exception("job %s: reading the session's input failed", link.job_id)
                command = None
                await asyncio.sleep(PRESENCE_CHECK_S)
            if command is not None:
                last_seen = time.monotonic()  # a command comes from an attached client
                if command.kind is CommandKind.SIGNAL:
                    if command.data in Signal.__members__:
                        taken = self.live.signal(SIGNALS[Signal(command.data)])
                        log.info(
                            "job %s: %s %s",
                            link.job_id,
                            command.data,
                            "for the program" if taken else "too late: the run is over",
                        )
                else:
                    await self._inputs.put((command.kind, command.data))
            now = time.monotonic()
            if now - checked >= PRESENCE_CHECK_S:
                checked = now
                with contextlib.suppress(BackendUnavailableError):
                    if await link.sessions.attached(link.job_id):
                        last_seen = now
                if now - last_seen >= link.idle_s:
                    log.info("job %s: no client attached for %.0f s", link.job_id, link.idle_s)
                    await link.on_idle()
                    return

    # --- the run ---------------------------------------------------------------------------
    async def run(self, start: Callable[[Live], Awaitable[RunResult]]) -> RunResult:
        """The program's result, run by start with this run's Live."""
        link = self.link
        tasks: list[asyncio.Task[None]] = [asyncio.create_task(self._write())]
        publisher: asyncio.Task[None] | None = None
        if link is not None:
            with contextlib.suppress(BackendUnavailableError):
                await link.sessions.begin(link.job_id)
            publisher = asyncio.create_task(self._publish())
            tasks.append(asyncio.create_task(self._mark_start()))
            if self.request.interactive:
                tasks.append(asyncio.create_task(self._receive()))
        try:
            result = await start(self.live)
        finally:
            await stop(tasks)  # never a plain cancel: _receive could miss it and go on
            for kind, decoder in self._decoders.items():
                tail = decoder.decode(b"", final=True)
                if self._interleaved is not None:
                    self._interleaved.append(tail)
                self._add(kind, tail)
            self._closing = True
            self._wake.set()
            if publisher is not None and link is not None:
                await asyncio.gather(publisher, return_exceptions=True)
                with contextlib.suppress(BackendUnavailableError):
                    await link.sessions.end(link.job_id)
        if self._interleaved is not None:
            return result.model_copy(update={"output": "".join(self._interleaved)})
        return result
