"""One sandbox slot: its cgroup, its launcher, its long-lived nsjail, and the run cycle.

A slot runs one nsjail in RERUN mode for one phase (compile or run) of one runtime. nsjail
builds a fresh sandbox (new
namespaces, mounts, seccomp, user) and starts the sandbox init in it; the init says
"ready" and waits. A run sends it "go" with the run's stdin, stdout and stderr; the
service then supervises CPU time, wall time and output, the init reports how the program
ended, the service reads what the kernel counted, says "bye", and nsjail immediately
builds the next sandbox. So a run never waits for nsjail to start, and nsjail's own
start-up (6 ms of dynamic linking here) is paid once per slot, not once per run.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from onpyrunner.errors import SandboxError
from onpyrunner.models import Limits, RunResult, Usage
from onpyrunner.sandbox import nsjail
from onpyrunner.sandbox.cgroup import RunStart, SlotCgroup
from onpyrunner.sandbox.nsjail import CappedReader, read_pipe
from onpyrunner.sandbox.runtimes import Phase
from onpyrunner.sandbox.verdict import ExitFacts, KillReason, classify
from onpyrunner.sandbox.workspace import Workspace

log = logging.getLogger(__name__)

LAUNCHER = Path(__file__).with_name("launcher.py")
#: Processes of a slot that are not the user's: launcher, nsjail, init.
OVERHEAD_PROCESSES = 3
#: How long a sandbox may take to become ready, and a program to end once killed.
READY_TIMEOUT_S = 10.0
END_TIMEOUT_S = 5.0
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
        while self.sock is not None:
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
        for child in self.children.values():
            for fut in (child.spawned, child.exited):
                if not fut.done():
                    fut.set_exception(SandboxError("the slot's launcher died"))
                    fut.exception()  # retrieved: whoever waits on it reports it
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


@dataclass(frozen=True)
class RunSpec:
    """One run for a slot: which phase, the files, the command and its limits."""

    phase: Phase
    files: dict[str, bytes]
    argv: list[str]
    stdin: bytes
    limits: Limits
    memory_error: Callable[[str], bool]
    links: dict[str, Path] | None = None  # files hard-linked in (a compiled program)
    collect: bool = False  # read back the phase's artifacts (a compile)


@dataclass(frozen=True)
class Finished:
    """A classified run, and the artifacts it left when asked for."""

    result: RunResult
    artifacts: dict[str, bytes]


@dataclass(frozen=True)
class SlotConfig:
    """What every slot needs to build its sandboxes."""

    nsjail: Path
    init: Path
    work_dir: Path
    cpus: int
    #: More nsjail options, after the policy (benchmarks use it to switch features off).
    extra_nsjail_args: tuple[str, ...] = ()


@dataclass(frozen=True)
class Status:
    """How the init says the program ended."""

    exit_code: int | None
    signal: int | None
    wall_us: int
    cpu_us: int


def _parse_status(text: str) -> Status:
    kind, value, wall_us, cpu_us = text.split()[:4]
    if kind == "signal":
        return Status(None, int(value), int(wall_us), int(cpu_us))
    return Status(int(value), None, int(wall_us), int(cpu_us))


class Jail:
    """One long-lived nsjail (RERUN mode) for one phase, and the socket to its inits."""

    def __init__(
        self,
        phase: Phase,
        child: Child,
        sock: socket.socket,
        log: CappedReader,
        cpu_ns: Callable[[], int],
    ) -> None:
        self.phase = phase
        self.child = child
        self.sock = sock
        self.log = log
        self._cpu_ns = cpu_ns
        #: How long the last sandbox took to build (from "bye" to "ready"): wall s, CPU ns.
        self.build_s: float | None = None
        self.build_cpu_ns: int | None = None
        self._bye: tuple[float, int] | None = None
        loop = asyncio.get_running_loop()
        self.ready: asyncio.Future[None] = loop.create_future()
        self.status: asyncio.Future[Status] | None = None
        self.execfail: int | None = None
        loop.add_reader(sock.fileno(), self._on_readable)
        child.exited.add_done_callback(lambda _: self._ended())

    @property
    def alive(self) -> bool:
        return not self.child.exited.done()

    def _log_text(self) -> str:
        return self.log.data().decode(errors="replace").strip()

    def _on_readable(self) -> None:
        while True:
            try:
                data = self.sock.recv(256)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                asyncio.get_running_loop().remove_reader(self.sock.fileno())
                return
            self._on_message(data.decode(errors="replace"))

    def _on_message(self, text: str) -> None:
        if text == "ready":
            if self._bye is not None:
                self.build_s = time.monotonic() - self._bye[0]
                self.build_cpu_ns = self._cpu_ns() - self._bye[1]
                self._bye = None
            if not self.ready.done():
                self.ready.set_result(None)
        elif text.startswith("execfail"):
            self.execfail = int(text.split()[1])
        elif self.status is not None and not self.status.done():
            self.status.set_result(_parse_status(text))

    def _ended(self) -> None:
        exited = self.child.exited
        how = (
            f"exited with status {os.waitstatus_to_exitcode(exited.result())}"
            if exited.done() and exited.exception() is None
            else "is gone"
        )
        error = SandboxError(
            f"nsjail could not run the sandbox: it {how}: {self._log_text() or 'no log'}"
        )
        for fut in (self.ready, self.status):
            if fut is not None and not fut.done():
                fut.set_exception(error)
                fut.exception()

    def send(self, text: str, fds: list[int] | None = None) -> None:
        if fds:
            socket.send_fds(self.sock, [text.encode()], fds)
        else:
            with contextlib.suppress(OSError):
                self.sock.send(text.encode())

    async def wait_ready(self) -> None:
        """Wait until the current sandbox's init waits for "go".

        Raises:
            SandboxError: nsjail could not build the sandbox; carries nsjail's log.
        """
        try:
            await asyncio.wait_for(asyncio.shield(self.ready), READY_TIMEOUT_S)
        except TimeoutError as e:
            raise SandboxError(
                f"nsjail could not start the sandbox in {READY_TIMEOUT_S:.0f} s: "
                f"{self._log_text() or 'no log'}"
            ) from e

    def next_sandbox(self) -> None:
        """Let this sandbox go; nsjail builds the next one."""
        self.ready = asyncio.get_running_loop().create_future()
        self.status = None
        self.execfail = None
        if not self.alive:
            self._ended()
        self._bye = (time.monotonic(), self._cpu_ns())
        self.send("bye")

    def close(self) -> None:
        with contextlib.suppress(ValueError, OSError):
            asyncio.get_running_loop().remove_reader(self.sock.fileno())
        self.sock.close()


class Slot:
    """One sandbox at a time, in its own cgroup, with its own host uid."""

    def __init__(self, index: int, host_id: int, cgroup: SlotCgroup, config: SlotConfig) -> None:
        self.index = index
        self.host_id = host_id
        self.cgroup = cgroup
        self.config = config
        self.launcher = LauncherClient(cgroup)
        self.jail: Jail | None = None
        self.workspace = Workspace(config.work_dir / f"slot-{index}")

    @property
    def phase_key(self) -> str | None:
        """The phase this slot's nsjail serves, if it is up."""
        return self.jail.phase.key if self.jail is not None and self.jail.alive else None

    def start(self) -> None:
        """Make the cgroup and the slot's directory, and start the launcher."""
        self.cgroup.create()
        self.workspace.create()
        self.launcher.start()

    def kill(self) -> None:
        """SIGKILL every process of the slot but its launcher (which reaps them all)."""
        self.cgroup.kill_all(spare=self.launcher.pid)

    async def load(self, phase: Phase) -> Jail:
        """Make sure this slot's nsjail serves phase (restarting it for another one)."""
        if self.jail is not None:
            if self.jail.alive and self.jail.phase.key == phase.key:
                return self.jail
            await self._stop_jail()
        if not self.launcher.alive:
            self.kill()
            self.launcher = LauncherClient(self.cgroup)
            self.launcher.start()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        ours.setblocking(False)
        log_r, log_w = os.pipe2(os.O_CLOEXEC)
        devnull = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        argv = nsjail.command(
            self.config.nsjail,
            phase.policy,
            self.host_id,
            self.workspace.box,
            phase.box_writable,
            self.config.init,
            self.config.extra_nsjail_args,
        )
        try:
            child = await self.launcher.spawn(
                argv, [devnull, devnull, devnull, theirs.fileno(), log_w]
            )
        except BaseException:
            ours.close()
            os.close(log_r)
            raise
        finally:
            theirs.close()
            os.close(log_w)
            os.close(devnull)
        reader = CappedReader(nsjail.MAX_LOG_BYTES)
        await read_pipe(log_r, reader)
        self.jail = Jail(phase, child, ours, reader, self.cgroup.cpu_ns)
        return self.jail

    async def reset(self) -> None:
        """Stop this slot's nsjail; the next run starts a new one (with the current config)."""
        await self._stop_jail()

    async def _stop_jail(self) -> None:
        jail, self.jail = self.jail, None
        if jail is None:
            return
        jail.close()  # the init sees EOF and exits; nsjail would build another: kill it
        self.kill()
        with contextlib.suppress(SandboxError, TimeoutError):
            await asyncio.wait_for(asyncio.shield(jail.child.exited), END_TIMEOUT_S)

    async def run(self, job: RunSpec) -> Finished:
        """Run a program in this slot's next sandbox and classify what happened.

        Raises:
            SandboxError: the sandbox failed (not the program).
        """
        jail = await self.load(job.phase)
        await jail.wait_ready()
        try:
            result = await self._run(jail, job)
            artifacts = self.workspace.collect(job.phase.is_artifact) if job.collect else {}
            return Finished(result, artifacts)
        except BaseException:
            await self._stop_jail()  # whatever state it is in, start the next one afresh
            raise
        finally:
            self.workspace.clean()

    async def _run(self, jail: Jail, job: RunSpec) -> RunResult:
        limits = job.limits
        self.workspace.write_files(
            job.files, job.links, writer_uid=self.host_id if job.phase.box_writable else None
        )
        stdin_fd = self.workspace.stdin_fd(job.stdin)
        (out_r, out_w), (err_r, err_w) = os.pipe2(os.O_CLOEXEC), os.pipe2(os.O_CLOEXEC)
        stop = asyncio.Event()
        reasons: list[KillReason] = []

        def stop_for(why: KillReason) -> None:
            if not reasons:
                reasons.append(why)
            stop.set()

        cap = limits.output_kb * 1024
        stdout = CappedReader(cap, lambda: stop_for(KillReason.OUTPUT))
        stderr = CappedReader(cap, lambda: stop_for(KillReason.OUTPUT))
        start = self.cgroup.set_limits(
            limits.memory_mb << 20, limits.max_processes + OVERHEAD_PROCESSES
        )
        jail.status = asyncio.get_running_loop().create_future()
        cpu_s = -(-limits.cpu_time_ms // 1000)
        go = "\0".join([f"go {cpu_s} {limits.max_file_kb * 1024} {limits.wall_time_ms}", *job.argv])
        try:
            jail.send(go, [stdin_fd, out_w, err_w])
        finally:
            for fd in (stdin_fd, out_w, err_w):
                os.close(fd)
        started = time.monotonic()
        await read_pipe(out_r, stdout)
        await read_pipe(err_r, stderr)
        try:
            status = await self._supervise(jail, limits, start, stop, stop_for)
        except SandboxError:
            # The OOM killer may take nsjail or the init themselves (it picks by size): then
            # nobody reports, but the kernel's counter says what happened.
            if self.cgroup.finish(start).oom_kills == 0:
                raise
            self.kill()
            elapsed_us = int((time.monotonic() - started) * 1e6)
            cpu_us = (self.cgroup.cpu_ns() - start.cpu_ns) // 1000
            status = Status(None, signal.SIGKILL, elapsed_us, cpu_us)
        host_wall_s = time.monotonic() - started
        await self._drain(stdout, stderr)
        counters = self.cgroup.finish(start)
        execfail = jail.execfail
        jail.next_sandbox()
        if execfail is not None:
            raise SandboxError(
                f"the sandbox could not start {job.argv[0]}: {os.strerror(execfail)}"
            )
        err = stderr.data().decode(errors="replace")
        usage = Usage(
            cpu_time_ms=status.cpu_us // 1000,
            wall_time_ms=min(status.wall_us // 1000, int(host_wall_s * 1000)),
            memory_kb=counters.memory_peak_bytes // 1024,
        )
        facts = ExitFacts(
            exit_code=status.exit_code, signal=status.signal,
            killed_for=reasons[0] if reasons else None,
            cpu_time_ms=usage.cpu_time_ms, wall_time_ms=usage.wall_time_ms,
            oom_kills=counters.oom_kills,
            runtime_memory_error=job.memory_error(err), limits=limits,
        )  # fmt: skip
        return RunResult(
            outcome=classify(facts), stdout=stdout.data().decode(errors="replace"),
            stderr=err, exit_code=status.exit_code, signal=status.signal, usage=usage,
        )  # fmt: skip

    async def _supervise(
        self,
        jail: Jail,
        limits: Limits,
        start: RunStart,
        stop: asyncio.Event,
        stop_for: Callable[[KillReason], None],
    ) -> Status:
        """Wait for the init's status, stopping the program at its CPU, wall or output limit.

        Raises:
            SandboxError: the sandbox died, or did not report after being told to kill.
        """
        assert jail.status is not None
        status_fut = jail.status
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limits.wall_time_ms / 1000
        cpu_limit_ns = limits.cpu_time_ms * 1_000_000
        stop_wait = asyncio.ensure_future(stop.wait())
        either: list[asyncio.Future[Any]] = [status_fut, stop_wait]
        try:
            while not status_fut.done() and not stop.is_set():
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
                await asyncio.wait(
                    either, timeout=timeout,
                    return_when=asyncio.FIRST_COMPLETED,
                )  # fmt: skip
        finally:
            stop_wait.cancel()
        if stop.is_set() and not status_fut.done():
            jail.send("kill")
        try:
            return await asyncio.wait_for(asyncio.shield(status_fut), END_TIMEOUT_S)
        except TimeoutError as e:
            raise SandboxError("the sandbox did not report after its program was killed") from e

    async def _drain(self, stdout: CappedReader, stderr: CappedReader) -> None:
        """Wait for the run's pipes to close: the init reports only once all writers died."""
        _, pending = await asyncio.wait([stdout.closed, stderr.closed], timeout=END_TIMEOUT_S)
        if pending:
            raise SandboxError("the program's output stayed open after it ended")

    async def stop(self) -> None:
        """Stop nsjail and the launcher (killing anything they run), remove the cgroup."""
        if self.jail is not None:
            self.jail.close()
            self.jail = None
        await self.launcher.stop()
        self.cgroup.kill_all()
        with contextlib.suppress(OSError):
            self.cgroup.remove()
        self.workspace.remove()
