"""The live side of a run: stdin that stays open, output as it is written, and signals.

A caller that wants a live run (an interactive session, an interactor talking to a
program, output streamed to a client) makes a Live before the run and passes it in the
run's options. The slot attaches it when the program's process exists and detaches it
when the run ends. Everything is bounded: a write waits while the program's stdin pipe is
full (the pipe's own buffer, then HIGH_WATER_BYTES held by the host), so a program that does
not read cannot make the host hold more than that; output chunks are handed to a callback
as they arrive and never kept by Live itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable

#: A chunk of output: ("stdout" or "stderr", its bytes).
OutputSink = Callable[[str, bytes], None]


#: A write waits while the host holds more than this for the program's stdin.
HIGH_WATER_BYTES = 64 * 1024


class _PipeWriter:
    """The stdin pipe's write end, owned: bytes the pipe cannot take yet are held (a
    write waits once more than HIGH_WATER_BYTES are), and the descriptor is closed exactly
    once. Made synchronously: an event loop's `connect_write_pipe` can be cancelled at its
    await, and uvloop then closes the descriptor while the file object given to it still
    owns the number (see CappedReader)."""

    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd
        self._pending = bytearray()
        self._closing = False
        self.writable = asyncio.Event()
        self.writable.set()
        self.lost = asyncio.Event()
        try:
            os.set_blocking(fd, False)
        except BaseException:
            self.abort()
            raise

    def is_closing(self) -> bool:
        return self._closing or self._fd is None

    def write(self, data: bytes) -> None:
        if self.is_closing() or not data:
            return
        if not self._pending:
            data = data[self._write_now(data) :]
            if self._fd is None or not data:
                return
            asyncio.get_running_loop().add_writer(self._fd, self._flush)
        self._pending += data
        if len(self._pending) > HIGH_WATER_BYTES:
            self.writable.clear()

    def _write_now(self, data: bytes | bytearray) -> int:
        """Write what the pipe takes now: how much that was (all of it when it broke)."""
        assert self._fd is not None
        try:
            return os.write(self._fd, data)
        except (BlockingIOError, InterruptedError):
            return 0
        except OSError:  # the program closed its stdin or is gone
            self.abort()
            return len(data)

    def _flush(self) -> None:
        if self._fd is None:
            return
        del self._pending[: self._write_now(self._pending)]
        if self._fd is None:
            return
        if len(self._pending) <= HIGH_WATER_BYTES:
            self.writable.set()
        if not self._pending:
            asyncio.get_running_loop().remove_writer(self._fd)
            if self._closing:
                self.abort()

    def close(self) -> None:
        """End of input, once what is held is written."""
        self._closing = True
        if not self._pending:
            self.abort()

    def abort(self) -> None:
        """Close now, dropping what is held."""
        fd, self._fd = self._fd, None
        self._pending.clear()
        if fd is not None:
            with contextlib.suppress(ValueError, OSError, RuntimeError):
                asyncio.get_running_loop().remove_writer(fd)
            os.close(fd)
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
        if self._writer is None or self._stdin_closed:
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
        if self._writer.lost.is_set() or self._writer.is_closing():
            return False
        self._writer.write(data)
        return True

    def close_stdin(self) -> None:
        """End of input: the program reads EOF once it has read what was written."""
        self._stdin_closed = True
        if self._writer is not None:
            self._writer.close()

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
    def attach(
        self, stdin_fd: int, send_signal: Callable[[int], None], initial: bytes = b""
    ) -> None:
        """The program runs: its stdin pipe's write end (taken over, whatever happens), how
        to signal it, and the stdin the run came with, which goes first (whole: its size was
        checked with the request)."""
        writer = _PipeWriter(stdin_fd)
        writer.write(initial)
        self._writer = writer
        self._send_signal = send_signal
        if self._stdin_closed:
            writer.close()
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
        if self._writer is not None:
            self._writer.abort()
