"""A live run on the worker's side (worker/session.py): the Live of a "program" that is a
coroutine on a real pipe, connected to the in-memory store's session channels."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Awaitable, Callable

import pytest

from onpyrunner.limits import Limits
from onpyrunner.models import JobRequest, Outcome, RunResult, Usage
from onpyrunner.queue.memory import MemorySessions
from onpyrunner.queue.session import START, Command, CommandKind, Output, OutputKind
from onpyrunner.sandbox.live import Live
from onpyrunner.worker import session as worker_session
from onpyrunner.worker.session import LiveRun, SessionLink

PATIENCE_S = 10.0
RESULT = RunResult(
    outcome=Outcome.SUCCESS,
    stdout="",
    stderr="",
    exit_code=0,
    signal=None,
    usage=Usage(cpu_time_ms=1, wall_time_ms=1, memory_kb=1),
)

Program = Callable[[Live, asyncio.StreamReader, list[int]], Awaitable[None]]


def request(**fields: object) -> JobRequest:
    return JobRequest(language="python", source_code="", limits=Limits(), **fields)


def link(sessions: MemorySessions, idle_s: float = 60.0) -> tuple[SessionLink, asyncio.Event]:
    idled = asyncio.Event()

    async def on_idle() -> None:
        idled.set()

    return SessionLink(sessions, "job", idle_s, on_idle), idled


async def run_program(run: LiveRun, program: Program) -> RunResult:
    """Run program as the sandbox would: its stdin is a real pipe, read here."""

    async def start(live: Live) -> RunResult:
        read_end, write_end = os.pipe2(os.O_CLOEXEC)
        loop = asyncio.get_running_loop()
        stdin = asyncio.StreamReader()
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(stdin), open(read_end, "rb", buffering=0)
        )
        signals: list[int] = []
        live.attach(write_end, signals.append)
        try:
            await program(live, stdin, signals)
        finally:
            live.detach()
            transport.close()
        return RESULT

    return await run.run(start)


async def everything(sessions: MemorySessions) -> list[Output]:
    return (await sessions.read("job", START, 0))[0]


async def test_output_is_published_as_text_after_the_start_mark_and_interleaved() -> None:
    sessions = MemorySessions(60)
    session, _ = link(sessions)

    async def program(live: Live, stdin: asyncio.StreamReader, signals: list[int]) -> None:
        word = "héllo\n".encode()
        live.output("stdout", word[:2])  # "é" is cut between two chunks
        live.output("stdout", word[2:])
        live.output("stderr", b"oops\n")
        live.output("stdout", b"bye\n")
        assert await stdin.read() == b"21\n"  # a batch stream: stdin, then its end

    run = LiveRun(request(stream=True, interleave_output=True, stdin="21\n"), session)
    result = await run_program(run, program)
    assert await everything(sessions) == [
        Output(OutputKind.STARTED),
        Output(OutputKind.STDOUT, "héllo\n"),
        Output(OutputKind.STDERR, "oops\n"),
        Output(OutputKind.STDOUT, "bye\n"),
    ]
    assert result.output == "héllo\noops\nbye\n"


async def test_what_clients_send_reaches_the_program_and_signals_at_once() -> None:
    sessions = MemorySessions(60)
    session, _ = link(sessions)

    async def program(live: Live, stdin: asyncio.StreamReader, signals: list[int]) -> None:
        assert await stdin.readline() == b"first\n"  # the request's own stdin comes first
        await sessions.send("job", Command(CommandKind.STDIN, "Ada\n"))
        assert await stdin.readline() == b"Ada\n"
        await sessions.send("job", Command(CommandKind.SIGNAL, "SIGINT"))
        await sessions.send("job", Command(CommandKind.SIGNAL, "SIGHUP"))  # not offered
        await sessions.send("job", Command(CommandKind.CLOSE_STDIN))
        assert await stdin.read() == b""  # end of input
        assert signals == [signal.SIGINT]

    async with sessions.attach("job"):
        result = await asyncio.wait_for(
            run_program(LiveRun(request(interactive=True, stdin="first\n"), session), program),
            PATIENCE_S,
        )
    assert result.output is None


class MissesACancel(MemorySessions):
    """Sessions whose input read misses the first cancel that reaches it, as a read through
    redis-py can on Python 3.11 (its wait_for swallows a cancel that lands as it ends)."""

    def __init__(self) -> None:
        super().__init__(60)
        self.reading = asyncio.Event()
        self.missed = 0

    async def receive(
        self, job_id: str, cursor: str, timeout_s: float
    ) -> tuple[Command | None, str]:
        self.reading.set()
        try:
            return await super().receive(job_id, cursor, timeout_s)
        except asyncio.CancelledError:
            if self.missed:
                raise
            self.missed += 1
            return None, cursor


async def test_a_run_ends_although_its_input_reader_missed_a_cancel() -> None:
    # Seen in CI through Redis: a Piston /connect client's program ended on its SIGTERM,
    # but the run never did (the reader went on reading, its client attached).
    sessions = MissesACancel()
    session, _ = link(sessions)

    async def program(live: Live, stdin: asyncio.StreamReader, signals: list[int]) -> None:
        await sessions.reading.wait()  # the program ends while the reader waits for input

    async with sessions.attach("job"), asyncio.timeout(PATIENCE_S):
        result = await run_program(LiveRun(request(interactive=True), session), program)
    assert result.outcome is Outcome.SUCCESS and sessions.missed == 1


async def test_a_session_no_client_is_attached_to_ends_as_idle(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(worker_session, "PRESENCE_CHECK_S", 0.05)  # it looks once a second
    sessions = MemorySessions(60)
    session, idled = link(sessions, idle_s=0.05)

    async def program(live: Live, stdin: asyncio.StreamReader, signals: list[int]) -> None:
        await asyncio.wait_for(idled.wait(), PATIENCE_S)

    await run_program(LiveRun(request(interactive=True), session), program)
    assert idled.is_set()


async def test_a_program_that_never_starts_publishes_nothing() -> None:
    sessions = MemorySessions(60)
    session, _ = link(sessions)

    async def start(live: Live) -> RunResult:  # a compile error: no program ever runs
        return RESULT

    await LiveRun(request(interactive=True), session).run(start)
    assert await everything(sessions) == []


async def test_a_signal_sent_before_the_start_is_known_reaches_the_program_at_its_start() -> None:
    # The program's output and the news of its start travel apart: a client can see output
    # and answer with a signal before the slot has attached the live side (CI saw a
    # Piston /connect client's SIGTERM lost that way).
    live = Live()
    assert live.signal(signal.SIGTERM) and live.signal(signal.SIGTERM)
    assert live.signal(signal.SIGINT)
    read_end, write_end = os.pipe2(os.O_CLOEXEC)
    signals: list[int] = []
    try:
        live.attach(write_end, signals.append)
        assert signals == [signal.SIGTERM, signal.SIGINT]  # each once, in order
        assert live.signal(signal.SIGKILL) and signals[-1] == signal.SIGKILL
        live.detach()
        assert not live.signal(signal.SIGINT)  # the run is over: nothing to hold for
    finally:
        os.close(read_end)
