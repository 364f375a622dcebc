"""An interactive case: the program and the interactor at the same time, the host between.

    program ──stdout──> host ──stdin──> interactor (testlib: `interactor input output answer`)
    program <──stdin─── host <─stdout── interactor

Each side runs in its own fresh sandbox with its own limits: the program with the job's,
the interactor with the checker limits (settings checker_*), its wall time the exchange's
plus `interactor_grace_ms`. Both sandboxes are taken before either starts
(`Sandbox.run_together`). The host relays each side's stdout to the other's stdin as it is
written (sandbox/live.py) and keeps a bounded transcript of both directions on the way.

Whoever ends first, the other is stopped: when the interactor ends, the program's stdin
is closed after what was relayed and the program is killed (the interactor has spoken);
when the program ends, the interactor's stdin is closed after what was relayed, and the
interactor has `interactor_grace_ms` to give its verdict before it is killed.

The verdict comes from evidence, in this order (`verdict_of`): the program's time, memory
or output limit; the program's runtime error if it ended first (a program that dies after
the interactor ended, of the EOF or of the kill, is not blamed); an interactor that gave no
verdict in its grace; then the interactor's verdict by testlib's protocol. The order of
the two ends is the host's evidence: a program that floods without waiting for answers may
reach its output limit in the same milliseconds as the interactor gives up, and then
either may be seen first (OUTPUT_LIMIT_EXCEEDED or the interactor's verdict).

Why no exchange can hang, whatever either side does:
- Each side's run ends within its own wall limit: the sandbox stops it there (the program's
  is the job's wall_time_ms, the interactor's that plus the grace), whether it computes,
  sleeps, waits for input that never comes, or has closed its pipes.
- The host never blocks on a side: output is read as it comes (never waiting for the
  other side to take it), and a relay's write waits only while the reader's pipe is full,
  and gives up when that reader's run is over (Live.write). So a side that never reads
  can stall only its own relay, never the host nor the other direction.
- What the host holds for a side that does not read is bounded by the writer's output
  limit: past it the writer is stopped (OUTPUT_LIMIT_EXCEEDED), so a flood ends there.
- When one side ends, the other's input is closed and it is stopped as above, so the
  exchange ends within the program's wall limit plus the interactor's grace (plus the
  sandbox's own few seconds to report a run).
"""

from __future__ import annotations

import asyncio
import signal
from dataclasses import dataclass

from onpyrunner.errors import SandboxError, SandboxFault
from onpyrunner.judge.testlib import ANSWER, INPUT, OUTPUT, Judgement, judgement
from onpyrunner.judge.transcript import TranscriptRecorder
from onpyrunner.limits import Limits
from onpyrunner.models import Outcome, RunResult, TestCase, Transcript, Verdict
from onpyrunner.sandbox.live import Live
from onpyrunner.sandbox.pool import SANDBOX_TRIES, Prepared, PreparedRun, RunOptions, Sandbox

_LIMIT_VERDICTS = {
    Outcome.TIME_LIMIT_EXCEEDED: Verdict.TIME_LIMIT_EXCEEDED,
    Outcome.MEMORY_LIMIT_EXCEEDED: Verdict.MEMORY_LIMIT_EXCEEDED,
    Outcome.OUTPUT_LIMIT_EXCEEDED: Verdict.OUTPUT_LIMIT_EXCEEDED,
}


@dataclass(frozen=True)
class Exchange:
    """How one interactive case went: both runs, who ended first, what was said."""

    program: RunResult
    interactor: RunResult
    program_ended_first: bool
    #: The interactor was stopped by the host: no verdict within its grace.
    interactor_stopped: bool
    transcript: Transcript


def verdict_of(exchange: Exchange, grace_ms: int, max_chars: int) -> Judgement:
    """The case's verdict from the evidence of both runs (see the module's docstring)."""
    program = exchange.program
    if program.outcome in _LIMIT_VERDICTS:
        return Judgement(_LIMIT_VERDICTS[program.outcome], 0.0)
    if exchange.program_ended_first and program.outcome is Outcome.RUNTIME_ERROR:
        return Judgement(Verdict.RUNTIME_ERROR, 0.0)
    if exchange.interactor_stopped:
        return Judgement(
            Verdict.CHECKER_ERROR,
            0.0,
            f"the interactor gave no verdict within {grace_ms} ms after the program ended",
        )
    return judgement(exchange.interactor, "interactor", max_chars)


class _Relay:
    """One direction: chunks queued as the writer writes them (bounded by its output
    limit), written to the reader as its pipe takes them, then end of input."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.reader: Live | None = None

    def put(self, data: bytes) -> None:
        self.queue.put_nowait(data)

    def end(self) -> None:
        self.queue.put_nowait(None)

    async def run(self) -> None:
        assert self.reader is not None
        while (data := await self.queue.get()) is not None:
            if not await self.reader.write(data):
                return  # the reader's stdin is closed or its run is over: drop the rest
        self.reader.close_stdin()


async def _stop(live: Live) -> bool:
    """Kill a side's program once it has started (at once if it has); False when it had
    ended already."""
    started = asyncio.ensure_future(live.started.wait())
    ended = asyncio.ensure_future(live.ended.wait())
    try:
        await asyncio.wait([started, ended], return_when=asyncio.FIRST_COMPLETED)
    finally:
        started.cancel()
        ended.cancel()
    return live.signal(signal.SIGKILL)


async def _wait_event(event: asyncio.Event, timeout_s: float) -> bool:
    try:
        async with asyncio.timeout(timeout_s):
            await event.wait()
    except TimeoutError:
        return False
    return True


async def exchange(
    sandbox: Sandbox,
    program: Prepared,
    interactor: Prepared,
    case: TestCase,
    limits: Limits,
) -> Exchange:
    """Run one interactive case; a sandbox that fails before its program starts costs a
    fresh try of the whole exchange, up to SANDBOX_TRIES.

    Raises:
        SandboxError: the sandbox failed (nothing is said about the program).
    """
    for attempt in range(1, SANDBOX_TRIES + 1):
        try:
            return await _exchange_once(sandbox, program, interactor, case, limits)
        except SandboxFault as e:
            if attempt == SANDBOX_TRIES:
                raise SandboxError(f"{e} (tried {attempt} interactive exchanges)") from e
    raise AssertionError("unreachable")


async def _exchange_once(
    sandbox: Sandbox,
    program: Prepared,
    interactor: Prepared,
    case: TestCase,
    limits: Limits,
) -> Exchange:
    settings = sandbox.settings
    recorder = TranscriptRecorder(settings.interactor_transcript_kb * 1024)
    to_interactor, to_program = _Relay(), _Relay()

    def from_program(stream: str, data: bytes) -> None:
        if stream == "stdout":
            recorder.record("program", data)
            to_interactor.put(data)

    def from_interactor(stream: str, data: bytes) -> None:
        if stream == "stdout":
            recorder.record("interactor", data)
            to_program.put(data)

    program_live, interactor_live = Live(from_program), Live(from_interactor)
    to_interactor.reader, to_program.reader = interactor_live, program_live
    interactor_limits = sandbox.limits.checker.model_copy(
        update={"wall_time_ms": limits.wall_time_ms + settings.interactor_grace_ms}
    )
    files = {INPUT: case.stdin.encode(), ANSWER: case.expected_stdout.encode()}
    together = asyncio.create_task(
        sandbox.run_together(
            [
                PreparedRun(program, b"", limits, RunOptions(live=program_live)),
                PreparedRun(
                    interactor,
                    b"",
                    interactor_limits,
                    RunOptions(files=files, args=(INPUT, OUTPUT, ANSWER), live=interactor_live),
                ),
            ]
        )
    )
    relays = [asyncio.create_task(to_interactor.run()), asyncio.create_task(to_program.run())]
    program_ended = asyncio.ensure_future(program_live.ended.wait())
    interactor_ended = asyncio.ensure_future(interactor_live.ended.wait())
    stopped = False
    try:
        await asyncio.wait(
            [program_ended, interactor_ended, together], return_when=asyncio.FIRST_COMPLETED
        )
        program_first = program_live.ended.is_set()
        if program_first:
            to_interactor.end()
            grace_s = settings.interactor_grace_ms / 1000
            if not await _wait_event(interactor_live.ended, grace_s):
                stopped = await _stop(interactor_live)
        elif interactor_live.ended.is_set():
            to_program.end()
            await _stop(program_live)
        program_run, interactor_run = await together
    finally:
        for task in [*relays, program_ended, interactor_ended, together]:
            task.cancel()
        await asyncio.gather(*relays, together, return_exceptions=True)
    return Exchange(
        program=program_run,
        interactor=interactor_run,
        program_ended_first=program_first,
        interactor_stopped=stopped,
        transcript=recorder.transcript(),
    )
