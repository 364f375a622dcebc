"""One sandbox slot: its cgroup, its launcher, and the run cycle arm -> fire -> collect.

Arming starts nsjail (through the slot's launcher, so it is born in the slot's cgroup)
with the sandbox init waiting on its gate: namespaces, mounts, seccomp and the user are
all in place before any job exists. Firing writes the program and its stdin, sets the
run's cgroup limits, and opens the gate; the service then supervises CPU time, wall time
and output until the program ends, and reads what the kernel counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from onpyrunner.errors import SandboxError
from onpyrunner.models import Limits, RunResult, Usage
from onpyrunner.sandbox import nsjail
from onpyrunner.sandbox.cgroup import RunStart, SlotCgroup
from onpyrunner.sandbox.nsjail import CappedReader, LineReader, read_pipe
from onpyrunner.sandbox.runtimes import Runtime
from onpyrunner.sandbox.verdict import ExitFacts, KillReason, classify
from onpyrunner.sandbox.workspace import Workspace

log = logging.getLogger(__name__)

LAUNCHER = Path(__file__).with_name("launcher.py")
#: Processes of a slot that are not the user's: launcher, nsjail, init.
OVERHEAD_PROCESSES = 3
#: How long a sandbox may take to become ready, and to end after being killed.
READY_TIMEOUT_S = 10.0
END_TIMEOUT_S = 10.0
#: Shortest pause between two reads of the cgroup's CPU counter.
MIN_CPU_CHECK_S = 0.005


@dataclass
class Child:
    """An nsjail process started by a launcher."""

    ident: int
    spawned: asyncio.Future[int]
    exited: asyncio.Future[int]


class LauncherClient:
    """The service's end of a slot launcher (see launcher.py)."""

    def __init__(self, cgroup: SlotCgroup) -> None:
        self.cgroup = cgroup
        self.proc: subprocess.Popen[bytes] | None = None
        self.sock: socket.socket | None = None
        self.children: dict[int, Child] = {}
        self._ids = itertools.count(1)

    @property
    def alive(self) -> bool:
        return self.sock is not None and self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def start(self) -> None:
        """Start the launcher process and move it into the slot's cgroup."""
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-I", "-S", str(LAUNCHER), str(child.fileno())],
                pass_fds=[child.fileno()],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                start_new_session=True,
            )
        finally:
            child.close()
        try:
            self.cgroup.attach(self.proc.pid)
        except OSError as e:
            self.proc.kill()
            self.proc.wait()
            parent.close()
            raise SandboxError(f"cannot move the launcher into its cgroup: {e}") from e
        parent.setblocking(False)
        self.sock = parent
        asyncio.get_running_loop().add_reader(parent.fileno(), self._on_readable)

    def _on_readable(self) -> None:
        assert self.sock is not None
        while True:
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                self._lost()
                return
            message = json.loads(data)
            child = self.children.get(int(message["id"]))
            if child is None:
                continue
            op = message["op"]
            if op == "spawned":
                child.spawned.set_result(int(message["pid"]))
            elif op == "error":
                child.spawned.set_exception(SandboxError(str(message["error"])))
                self.children.pop(child.ident, None)
            elif op == "exited":
                child.exited.set_result(int(message["status"]))
                self.children.pop(child.ident, None)

    def _lost(self) -> None:
        if self.sock is not None:
            asyncio.get_running_loop().remove_reader(self.sock.fileno())
            self.sock.close()
            self.sock = None
        error = SandboxError("the slot's launcher died")
        for child in self.children.values():
            for fut in (child.spawned, child.exited):
                if not fut.done():
                    fut.set_exception(error)
                    fut.exception()  # mark retrieved: the run that owns it reports it
        self.children.clear()

    async def spawn(self, argv: list[str], fds: list[int]) -> Child:
        """Start argv with fds as its 0, 1, 2, ...; returns once the process exists."""
        if self.sock is None:
            raise SandboxError("the slot's launcher is not running")
        loop = asyncio.get_running_loop()
        child = Child(next(self._ids), loop.create_future(), loop.create_future())
        self.children[child.ident] = child
        message = json.dumps({"op": "spawn", "id": child.ident, "argv": argv}).encode()
        socket.send_fds(self.sock, [message], fds)
        await child.spawned
        return child

    async def stop(self) -> None:
        """Close the socket (the launcher then kills its children and exits) and reap it."""
        if self.sock is not None:
            self._lost()
        if self.proc is not None:
            proc = self.proc
            try:
                await asyncio.to_thread(proc.wait, END_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                await asyncio.to_thread(proc.wait)


@dataclass
class Armed:
    """A sandbox that is up and waiting at its gate for a program."""

    runtime: Runtime
    workspace: Workspace
    child: Child
    gate_w: int
    stdout_r: int
    stderr_r: int
    status: LineReader
    log: CappedReader
    fds_open: list[int] = field(default_factory=list)

    def close_fds(self) -> None:
        for fd in self.fds_open:
            with contextlib.suppress(OSError):
                os.close(fd)
        self.fds_open.clear()


@dataclass(frozen=True)
class SlotConfig:
    """What every slot needs to build its sandboxes."""

    nsjail: Path
    init: Path
    work_dir: Path
    cpus: int


def _parse_status(line: str | None) -> tuple[int | None, int | None, int | None]:
    """(exit_code, signal, wall_us) from the init's status line."""
    if not line:
        return None, None, None
    parts = line.split()
    if parts[0] == "execfail":
        raise SandboxError(f"the sandbox could not start the program: errno {parts[1]}")
    kind, value, wall_us = parts[0], int(parts[1]), int(parts[2])
    if kind == "signal":
        return None, value, wall_us
    return value, None, wall_us


class Slot:
    """One sandbox at a time, in its own cgroup, with its own host uid."""

    def __init__(self, index: int, host_id: int, cgroup: SlotCgroup, config: SlotConfig) -> None:
        self.index = index
        self.host_id = host_id
        self.cgroup = cgroup
        self.config = config
        self.launcher = LauncherClient(cgroup)

    def start(self) -> None:
        """Make the cgroup and start the launcher in it."""
        self.cgroup.create()
        self.launcher.start()

    def ensure_launcher(self) -> None:
        """Restart the launcher if it died (for instance, killed by an OOM in its cgroup)."""
        if not self.launcher.alive:
            if self.launcher.proc is not None:
                self.launcher.proc.poll()
            self.cgroup.kill_all()
            self.launcher = LauncherClient(self.cgroup)
            self.launcher.start()

    async def arm(self, runtime: Runtime) -> Armed:
        """Start a sandbox for runtime and wait until its init is ready at the gate.

        Raises:
            SandboxError: nsjail could not build the sandbox; carries nsjail's log.
        """
        self.ensure_launcher()
        ws = Workspace.create(self.config.work_dir)
        stdin_fd = os.open(ws.stdin_path, os.O_RDONLY | os.O_CLOEXEC)
        pipes = [os.pipe2(os.O_CLOEXEC) for _ in range(5)]
        (out_r, out_w), (err_r, err_w), (gate_r, gate_w), (st_r, st_w), (log_r, log_w) = pipes
        theirs = [stdin_fd, out_w, err_w, gate_r, st_w, log_w]
        argv = nsjail.command(
            self.config.nsjail,
            runtime.policy,
            self.host_id,
            ws.box,
            self.config.init,
            runtime.spec.run,
        )
        status, nsjail_log = LineReader(), CappedReader(nsjail.MAX_LOG_BYTES)
        try:
            child = await self.launcher.spawn(argv, theirs)
        except BaseException:
            for fd in (*theirs, out_r, err_r, gate_w, st_r, log_r):
                os.close(fd)
            ws.remove()
            raise
        finally:
            for fd in theirs:
                with contextlib.suppress(OSError):
                    os.close(fd)
        armed = Armed(
            runtime,
            ws,
            child,
            gate_w,
            out_r,
            err_r,
            status,
            nsjail_log,
            fds_open=[gate_w, out_r, err_r],
        )
        await read_pipe(st_r, status)
        await read_pipe(log_r, nsjail_log)
        try:
            await asyncio.wait_for(asyncio.shield(status.ready), READY_TIMEOUT_S)
        except (SandboxError, TimeoutError) as e:
            await self._discard(armed)
            text = nsjail_log.data().decode(errors="replace").strip()
            raise SandboxError(f"nsjail could not start the sandbox: {text or e}") from e
        except BaseException:
            await self._discard(armed)
            raise
        return armed

    def kill(self) -> None:
        """SIGKILL every process of the slot but its launcher (which reaps them all)."""
        self.cgroup.kill_all(spare=self.launcher.pid)

    async def _discard(self, armed: Armed) -> None:
        """Tear down an armed sandbox that will not run anything.

        Closing the gate makes its init exit quietly; a sandbox that does not is killed.
        """
        armed.close_fds()
        try:
            await asyncio.wait_for(asyncio.shield(armed.child.exited), END_TIMEOUT_S)
        except TimeoutError:
            self.kill()
        except SandboxError:
            pass  # the launcher died, and the sandbox with it
        armed.workspace.remove()

    async def disarm(self, armed: Armed) -> None:
        """Let an armed sandbox go unused: its init sees EOF at the gate and exits."""
        await self._discard(armed)

    async def fire(
        self, armed: Armed, files: dict[str, bytes], stdin: bytes, limits: Limits
    ) -> RunResult:
        """Run the program in an armed sandbox and classify what happened.

        Raises:
            SandboxError: the sandbox failed (not the program).
        """
        try:
            return await self._fire(armed, files, stdin, limits)
        finally:
            armed.close_fds()
            armed.workspace.remove()
            leftovers = self.cgroup.kill_all(spare=self.launcher.pid)  # normally none
            if leftovers:
                log.warning("slot %d: killed %d leftover processes", self.index, leftovers)

    async def _fire(
        self, armed: Armed, files: dict[str, bytes], stdin: bytes, limits: Limits
    ) -> RunResult:
        armed.workspace.write_files(files)
        armed.workspace.write_stdin(stdin)
        start = self.cgroup.set_limits(
            limits.memory_mb << 20, limits.max_processes + OVERHEAD_PROCESSES
        )
        stop = asyncio.Event()
        reason: list[KillReason] = []

        def stop_for(why: KillReason) -> None:
            if not reason:
                reason.append(why)
            stop.set()

        cap = limits.output_kb * 1024
        stdout = CappedReader(cap, lambda: stop_for(KillReason.OUTPUT))
        stderr = CappedReader(cap, lambda: stop_for(KillReason.OUTPUT))
        for fd, reader in ((armed.stdout_r, stdout), (armed.stderr_r, stderr)):
            armed.fds_open.remove(fd)
            await read_pipe(fd, reader)
        go = f"{-(-limits.cpu_time_ms // 1000)} {limits.max_file_kb * 1024} {limits.wall_time_ms}\n"
        started = time.monotonic()
        os.write(armed.gate_w, go.encode())
        os.close(armed.gate_w)
        armed.fds_open.remove(armed.gate_w)
        try:
            await self._supervise(armed, limits, start, stop, stop_for)
        except BaseException:
            self.kill()
            raise
        host_wall_s = time.monotonic() - started
        await self._drain(armed, stdout, stderr)
        counters = self.cgroup.finish(start)
        exit_code, sig, wall_us = _parse_status(armed.status.status)
        killed_for = reason[0] if reason else None
        if exit_code is None and sig is None and killed_for is None and counters.oom_kills == 0:
            text = armed.log.data().decode(errors="replace").strip()
            raise SandboxError(f"the sandbox ended without a status: {text or 'no log'}")
        if exit_code is None and sig is None:
            sig = signal.SIGKILL  # killed with the whole sandbox
        out, err = stdout.data().decode(errors="replace"), stderr.data().decode(errors="replace")
        wall_ms = wall_us // 1000 if wall_us is not None else int(host_wall_s * 1000)
        usage = Usage(
            cpu_time_ms=counters.cpu_ns // 1_000_000,
            wall_time_ms=wall_ms,
            memory_kb=counters.memory_peak_bytes // 1024,
        )
        facts = ExitFacts(
            exit_code=exit_code, signal=sig, killed_for=killed_for,
            cpu_time_ms=usage.cpu_time_ms, wall_time_ms=usage.wall_time_ms,
            oom_kills=counters.oom_kills,
            runtime_memory_error=armed.runtime.memory_error_in(err), limits=limits,
        )  # fmt: skip
        return RunResult(
            outcome=classify(facts), stdout=out, stderr=err, exit_code=exit_code,
            signal=int(sig) if sig is not None else None, usage=usage,
        )  # fmt: skip

    async def _supervise(
        self,
        armed: Armed,
        limits: Limits,
        start: RunStart,
        stop: asyncio.Event,
        stop_for: Callable[[KillReason], None],
    ) -> None:
        """Wait for the program to end, stopping it at its CPU, wall or output limit."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limits.wall_time_ms / 1000
        cpu_limit_ns = limits.cpu_time_ms * 1_000_000
        stop_wait: asyncio.Future[object] = asyncio.ensure_future(stop.wait())
        try:
            while not armed.child.exited.done() and not stop.is_set():
                cpu_ns = self.cgroup.cpu_ns() - start.cpu_ns
                if cpu_ns > cpu_limit_ns:
                    stop_for(KillReason.CPU_TIME)
                    break
                remaining_wall = deadline - loop.time()
                if remaining_wall <= 0:
                    stop_for(KillReason.WALL_TIME)
                    break
                cpu_room_s = (cpu_limit_ns - cpu_ns) / 1e9 / self.config.cpus
                timeout = min(remaining_wall, max(MIN_CPU_CHECK_S, cpu_room_s))
                exited: asyncio.Future[object] = armed.child.exited  # type: ignore[assignment]
                await asyncio.wait(
                    {exited, stop_wait},
                    timeout=timeout,
                    return_when=asyncio.FIRST_COMPLETED,
                )
        finally:
            stop_wait.cancel()
        if stop.is_set() and not armed.child.exited.done():
            self.kill()
        try:
            await asyncio.wait_for(asyncio.shield(armed.child.exited), END_TIMEOUT_S)
        except TimeoutError as e:
            self.kill()
            raise SandboxError("the sandbox did not end after being killed") from e

    async def _drain(self, armed: Armed, stdout: CappedReader, stderr: CappedReader) -> None:
        """Wait for the pipes to close (every writer is gone once nsjail has exited)."""
        pending = [stdout.closed, stderr.closed, armed.status.closed]
        _, not_done = await asyncio.wait(pending, timeout=END_TIMEOUT_S)
        if not_done:
            self.kill()
            await asyncio.wait(not_done, timeout=END_TIMEOUT_S)

    async def stop(self) -> None:
        """Stop the launcher (killing anything it runs) and remove the cgroup."""
        await self.launcher.stop()
        self.cgroup.kill_all()
        with contextlib.suppress(OSError):
            self.cgroup.remove()
