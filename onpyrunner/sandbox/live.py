"""The live side of a run: stdin that stays open, output as it is written, and signals.

A caller that wants a live run (an interactive session, an interactor talking to a
program, output streamed to a client) makes a Live before the run and passes it in the
run's options. The slot attaches it when the program's process exists and detaches it
when the run ends. Everything is bounded: a write waits while the program's stdin pipe is
full (the pipe's own buffer, then the transport's high-water mark), so a program that does
not read cannot make the host hold more than that; output chunks are handed to a callback
as they arrive and never kept by Live itself.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import BinaryIO

#: A chunk of output: ("stdout" or "stderr", its bytes).
OutputSink = Callable[[str, bytes], None]


class _PipeWriter(asyncio.Protocol):
    """Flow control of the stdin pipe's write end."""

    def __init__(self) -> None:
        self.writable = asyncio.Event()
        self.writable.set()
        self.lost = asyncio.Event()

    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost.set()
        self.writable.set()


class Live:
    """One run's live input and output. Make one per run; it cannot be reused."""

    def __init__(self, on_output: OutputSink | None = None) -> None:
        self.on_output = on_output
        #: Set once the program's process exists (writes and signals then reach it).
        self.started = asyncio.Event()
        #: Set once the run is over (its outcome is being classified).
        self.ended = asyncio.Event()
        self._transport: asyncio.WriteTransport | None = None
        self._writer: _PipeWriter | None = None
        self._send_signal: Callable[[int], None] | None = None
        #: Signals asked for before the start was known, each once, sent at the start.
        self._held_signals: list[int] = []
        self._stdin_closed = False

    # --- the caller's side ---------------------------------------------------------------
    async def write(self, data: bytes) -> bool:
        """Send data to the program's stdin, waiting while its pipe is full. False when it
        can no longer be delivered (stdin closed, the program gone, or the run over)."""
        await self._running()
        if self._transport is None or self._writer is None or self._stdin_closed:
            return False
        while not self._writer.writable.is_set():
            waiters = [
                asyncio.ensure_future(self._writer.writable.wait()),
                asyncio.ensure_future(self.ended.wait()),
            ]
            try:
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waiters:
                    waiter.cancel()
            if self.ended.is_set():
                return False
        if self._writer.lost.is_set() or self._transport.is_closing():
            return False
        self._transport.write(data)
        return True

    def close_stdin(self) -> None:
        """End of input: the program reads EOF once it has read what was written."""
        self._stdin_closed = True
        if self._transport is not None:
            self._transport.close()

    def signal(self, sig: int) -> bool:
        """Send the program a signal; False when the run is over. Before the program's
        start is known the signal is held and sent at its start: the program's output
        travels apart from the news of its start and may reach a client first, and a
        client that answers it with a signal must not lose it."""
        if self.ended.is_set():
            return False
        if self._send_signal is None:
            if sig not in self._held_signals:  # bounded: one entry per signal number
                self._held_signals.append(sig)
            return True
        self._send_signal(sig)
        return True

    async def _running(self) -> None:
        waiters = [
            asyncio.ensure_future(self.started.wait()),
            asyncio.ensure_future(self.ended.wait()),
        ]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    # --- the slot's side -----------------------------------------------------------------
    async def attach(
        self, stdin: BinaryIO, send_signal: Callable[[int], None], initial: bytes = b""
    ) -> None:
        """The program runs: its stdin pipe's write end (taken over), how to signal it,
        and the stdin the run came with, which goes first (whole: its size was checked
        with the request)."""
        loop = asyncio.get_running_loop()
        transport, writer = await loop.connect_write_pipe(_PipeWriter, stdin)
        if initial:
            transport.write(initial)
        self._transport = transport
        self._writer = writer
        self._send_signal = send_signal
        if self._stdin_closed:
            transport.close()
        self.started.set()
        held, self._held_signals = self._held_signals, []
        for sig in held:
            send_signal(sig)

    def output(self, stream: str, data: bytes) -> None:
        """A chunk the program wrote (within its output limit)."""
        if self.on_output is not None:
            self.on_output(stream, data)

    def detach(self) -> None:
        """The run is over: nothing reaches the program any more."""
        self.ended.set()
        self._send_signal = None
        if self._transport is not None:
            with contextlib.suppress(Exception):
                self._transport.close()
