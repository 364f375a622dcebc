"""One sandbox slot: its cgroup, its launcher, its long-lived nsjail, and the run cycle.

A slot runs one nsjail in RERUN mode for one phase (compile or run) of one runtime. nsjail
builds a fresh sandbox (new namespaces, mounts, seccomp, user) and starts the sandbox init
in it; the init says READY and waits. A run sends it GO with the run's stdin, stdout,
stderr and a control socket of its own (protocol.py); the service then supervises CPU
time, wall time and output, the init reports how the program ended, the service reads
what the kernel counted and closes the control socket, and nsjail immediately builds the
next sandbox. So a run never waits for nsjail to start, and nsjail's own start-up (6 ms of
dynamic linking here) is paid once per slot, not once per run.

A slot is never trusted after an anomaly: any protocol surprise, a sandbox not ready in
time, or an init that stops answering tears the slot's nsjail down; the next run builds a
fresh one. When the program had not started, the run fails with SandboxFault and the
pool tries it again in another fresh sandbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import math
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from onpyrunner.errors import SandboxError, SandboxFault
from onpyrunner.limits import Limits, rlimit_cpu_s
from onpyrunner.models import Outcome, RunResult, Usage
from onpyrunner.sandbox import nsjail, protocol
from onpyrunner.sandbox.cgroup import RunStart, SlotCgroup
from onpyrunner.sandbox.live import Live
from onpyrunner.sandbox.nsjail import CappedReader
from onpyrunner.sandbox.runtimes import Phase
from onpyrunner.sandbox.verdict import ExitFacts, KillReason, classify
from onpyrunner.sandbox.workspace import Workspace, read_back, top_level_files

log = logging.getLogger(__name__)

LAUNCHER = Path(__file__).with_name("launcher.py")
#: Processes of a slot that are not the user's on v1: launcher, nsjail, init.
OVERHEAD_PROCESSES = 3
#: How long a sandbox may take to become ready, and a program to end once killed.
READY_TIMEOUT_S = 10.0
END_TIMEOUT_S = 5.0
#: A fork server's processes in the slot beside a sandbox's (the server itself): not the
#: program's (sandbox/warm.py).
FORK_SERVER_PROCESSES = 1
#: The least memory a warm run's cgroup limit leaves above the warm interpreter (a limit
#: at or below the interpreter's own size never reaches the cgroup: the run is a memory
#: verdict at once, see Slot._interpreter_over_memory).
WARM_MIN_ROOM_BYTES = 4096
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
                if not child.spawned.done():  # else given up (see spawn): being killed
                    child.spawned.set_result(int(message["pid"]))
            elif op == "error":
                if not child.spawned.done():
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
        try:
            await child.spawned
        except BaseException:
            self._give_up(child)
            raise
        return child

    def _give_up(self, child: Child) -> None:
        """The caller stopped waiting (cancelled, timed out): whatever was spawned for it is
        killed by the launcher, never left running beside the slot's next nsjail."""
        if not child.spawned.done():
            child.spawned.cancel()
        if self.sock is not None and child.ident in self.children:
            with contextlib.suppress(OSError):
                self.sock.send(json.dumps({"op": "kill", "id": child.ident}).encode())

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


#: The most a compile's artifacts may weigh, each (a compiled program).
MAX_ARTIFACT_BYTES = 256 << 20


@dataclass(frozen=True)
class RunSpec:
    """One run for a slot: which phase, the files, the command and its limits."""

    phase: Phase
    files: Mapping[str, bytes]  # relative paths in the working directory
    argv: list[str]
    stdin: bytes
    limits: Limits
    memory_error: Callable[[str], bool]
    links: Mapping[str, Path] | None = None  # files hard-linked in (a compiled program)
    collect: bool = False  # read back the phase's artifacts (a compile)
    #: Files to read back from the working directory after the run, and their size cap.
    fetch: tuple[PurePosixPath, ...] = ()
    fetch_max_bytes: int = 0
    #: Stdin that stays open, output as it is written, signals (see live.py).
    live: Live | None = None


@dataclass(frozen=True)
class Finished:
    """A classified run, and the files it left when asked for."""

    result: RunResult
    artifacts: dict[str, bytes]
    #: Of `fetch`: the files read back, and the paths that could not be (missing, not a
    #: regular file, or over the size cap).
    fetched: dict[str, bytes] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SlotConfig:
    """What every slot needs to build its sandboxes."""

    nsjail: Path
    init: Path
    work_dir: Path
    cpus: int
    #: More nsjail options, after the policy (benchmarks use it to switch features off).
    extra_nsjail_args: tuple[str, ...] = ()
    #: The slot's limits between runs, while it builds (and warms) its next sandbox: the
    #: server's maximums, so that no run's own limits bind that trusted work.
    between_runs_memory_bytes: int = 1024 << 20
    between_runs_pids_max: int = 128 + OVERHEAD_PROCESSES


class Jail:
    """One long-lived nsjail (RERUN mode) for one phase, and the slot's socket to its inits.

    Each sandbox's init says READY once; a run takes one READY, and the slot's socket
    carries nothing else but GO. Anything else there (an init that refused its go, a
    second sandbox ready while one is waiting, an unknown word) taints the jail: it is
    never used again, and the slot builds a fresh one.
    """

    def __init__(
        self,
        phase: Phase,
        child: Child,
        sock: socket.socket,
        log: CappedReader,
        adopt: Callable[[int], None] | None = None,
    ) -> None:
        self.phase = phase
        self.child = child
        self.sock = sock
        self.log = log
        #: Given (cgroup v2): each sandbox's init is adopted into its run's cgroup before
        #: it counts as ready; the slot's socket then carries the sender's credentials.
        self._adopt = adopt
        self._adopting: asyncio.Future[None] | None = None
        #: How long the last sandbox took to build: from the end of a run to the next
        #: READY, wall s.
        self.build_s: float | None = None
        self._run_ended: float | None = None
        self.readies = 0
        #: Of a warm sandbox (init.c, warm start): the memory its interpreter had before
        #: the profile's imports, which a run is billed for as if it had started it.
        self.warm_bytes = 0
        #: Why this jail must not be used again, once something went wrong.
        self.tainted: SandboxFault | None = None
        self._changed = asyncio.Event()
        asyncio.get_running_loop().add_reader(sock.fileno(), self._on_readable)
        child.exited.add_done_callback(lambda _: self._changed.set())

    @property
    def alive(self) -> bool:
        return not self.child.exited.done()

    @property
    def usable(self) -> bool:
        return self.alive and self.tainted is None

    def _log_text(self) -> str:
        return self.log.data().decode(errors="replace").strip()

    def _on_readable(self) -> None:
        while True:
            pid = None
            try:
                if self._adopt is None:
                    data = self.sock.recv(256)
                else:
                    data, ancdata, _, _ = self.sock.recvmsg(256, socket.CMSG_SPACE(_UCRED.size))
                    pid = _sender_pid(ancdata)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                asyncio.get_running_loop().remove_reader(self.sock.fileno())
                return
            self._on_message(data.decode(errors="replace"), pid)

    def taint(self, message: str, cause: str) -> None:
        """Never use this jail again (the slot builds a fresh one)."""
        if self.tainted is None:
            self.tainted = SandboxFault(message, cause)
        self._changed.set()

    def _on_message(self, text: str, pid: int | None = None) -> None:
        warm_bytes = protocol.parse_ready(text)
        if warm_bytes is not None:
            if self._adopting is not None or self.readies > 0:
                self.taint("two sandboxes of one slot said they were ready", "extra_ready")
            elif self._adopt is None:
                self.warm_bytes = warm_bytes
                self._ready()
            elif pid is None:
                self.taint("the sandbox init's ready came without its credentials", "protocol")
            else:
                self.warm_bytes = warm_bytes
                self._adopting = asyncio.ensure_future(self._adopt_init(pid))
            return
        refused = protocol.parse_errno(text, protocol.REFUSED)
        if refused is not None:
            self.taint(
                f"the sandbox init refused to start a run: {os.strerror(refused)}", "refused"
            )
        else:
            self.taint(f"the sandbox init said {text[:60]!r} on the slot socket", "protocol")

    def _ready(self) -> None:
        self.readies += 1
        if self._run_ended is not None:
            self.build_s = time.monotonic() - self._run_ended
            self._run_ended = None
        if self.readies > 1:
            self.taint("two sandboxes of one slot said they were ready", "extra_ready")
        self._changed.set()

    async def _adopt_init(self, pid: int) -> None:
        """Move the init that said READY into its run's cgroup, then count it ready. In a
        thread: a move waits for an RCU grace period, and the event loop must not."""
        assert self._adopt is not None
        try:
            await asyncio.to_thread(self._adopt, pid)
        except (OSError, SandboxError) as e:
            self.taint(f"cannot move the sandbox init into its run's cgroup: {e}", "adopt")
            return
        finally:
            self._adopting = None
        self._ready()

    def _gone(self) -> SandboxFault:
        exited = self.child.exited
        how = (
            f"exited with status {os.waitstatus_to_exitcode(exited.result())}"
            if exited.done() and exited.exception() is None
            else "is gone"
        )
        return SandboxFault(
            f"nsjail could not run the sandbox: it {how}: {self._log_text() or 'no log'}",
            "nsjail_exited",
        )

    async def take_ready(self, timeout_s: float = READY_TIMEOUT_S) -> None:
        """Wait until a sandbox's init waits for its go, and claim it for one run.

        Raises:
            SandboxFault: nsjail could not build a sandbox in time, died, or the jail is
                tainted; the message carries nsjail's log.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            if self.tainted is not None:
                raise self.tainted
            if self.readies > 0:
                self.readies -= 1
                return
            if not self.alive:
                raise self._gone()
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise SandboxFault(
                    f"nsjail could not start the sandbox in {timeout_s:.0f} s: "
                    f"{self._log_text() or 'no log'}",
                    "ready_timeout",
                )
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await self._changed.wait()

    async def settle(self) -> None:
        """Wait (bounded) until the next sandbox is ready, without claiming it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + READY_TIMEOUT_S
        while self.usable and self.readies == 0 and loop.time() < deadline:
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(deadline):
                    await self._changed.wait()

    def send_go(self, message: bytes, fds: list[int]) -> None:
        """Send a run's GO with its descriptors to the init that said READY.

        Raises:
            SandboxFault: the slot's socket is gone (nsjail and its inits are).
        """
        try:
            socket.send_fds(self.sock, [message], fds)
        except OSError as e:
            raise SandboxFault(f"the sandbox did not take its run: {e}", "go_failed") from e

    def run_ended(self) -> None:
        """The run is over; nsjail builds the next sandbox now."""
        self._run_ended = time.monotonic()

    def close(self) -> None:
        with contextlib.suppress(ValueError, OSError):
            asyncio.get_running_loop().remove_reader(self.sock.fileno())
        self.sock.close()
        if self._adopting is not None:
            self._adopting.cancel()


#: struct ucred: pid, uid, gid.
_UCRED = struct.Struct("iII")


def _sender_pid(ancdata: list[tuple[int, int, bytes]]) -> int | None:
    """The sender's pid (in the host's pid namespace) from SCM_CREDENTIALS, if present."""
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            if len(data) >= _UCRED.size:
                return int(_UCRED.unpack_from(data)[0])
    return None


class InitGoneError(SandboxError):
    """The run's control socket closed before the init said how the program ended."""


class RunChannel:
    """The host's end of one run's control socket (see protocol.py)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        loop = asyncio.get_running_loop()
        self.status: asyncio.Future[protocol.Status] = loop.create_future()
        self.execfail: int | None = None
        #: The program runs (its exec succeeded): from here on, it may have done anything.
        self.started = False
        self.started_event = asyncio.Event()
        #: When STARTED came (loop time): the program's wall clock starts there.
        self.started_at: float | None = None
        #: The run's working directory (/sandbox), sent with its end: for reading back.
        self.work_dir_fd: int | None = None
        loop.add_reader(sock.fileno(), self._on_readable)

    def _on_readable(self) -> None:
        while True:
            try:
                data, fds, _, _ = socket.recv_fds(self.sock, 256, 1, socket.MSG_CMSG_CLOEXEC)
            except BlockingIOError:
                return
            except OSError:
                data, fds = b"", []
            for fd in fds:  # only the end of a run carries one: the working directory
                if self.work_dir_fd is None:
                    self.work_dir_fd = fd
                else:
                    os.close(fd)
            if not data:
                self._stop_reading()
                if not self.status.done():
                    self.status.set_exception(
                        InitGoneError("the sandbox init ended without reporting the run")
                    )
                    self.status.exception()  # retrieved: the supervisor decides
                return
            self._on_message(data.decode(errors="replace"))

    def _on_message(self, text: str) -> None:
        if text == protocol.STARTED:
            self.started = True
            self.started_at = asyncio.get_running_loop().time()
            self.started_event.set()
            return
        failed = protocol.parse_errno(text, protocol.EXECFAIL)
        if failed is not None:
            self.execfail = failed
            return
        if self.status.done():
            return
        try:
            self.status.set_result(protocol.parse_status(text))
        except SandboxError as e:
            self.status.set_exception(e)
            self.status.exception()

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.send(protocol.KILL.encode())

    def signal(self, sig: int) -> None:
        with contextlib.suppress(OSError):
            self.sock.send(protocol.signal_message(sig))

    def _stop_reading(self) -> None:
        with contextlib.suppress(ValueError, OSError):
            asyncio.get_running_loop().remove_reader(self.sock.fileno())

    def close(self) -> None:
        """End the run: the init exits once it sees the socket close."""
        self._stop_reading()
        self.sock.close()
        if self.work_dir_fd is not None:  # it keeps the sandbox's /sandbox alive
            os.close(self.work_dir_fd)
            self.work_dir_fd = None


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
        """The phase this slot's nsjail serves, if it is up and trusted."""
        return self.jail.phase.key if self.jail is not None and self.jail.usable else None

    @property
    def ready(self) -> bool:
        """Whether a sandbox of this slot waits for its run now."""
        return self.jail is not None and self.jail.usable and self.jail.readies > 0

    def start(self) -> None:
        """Make the cgroup and the slot's directory, and start the launcher."""
        self.cgroup.create()
        self.workspace.create()
        self.launcher.start()

    def kill(self) -> None:
        """SIGKILL every process of the slot but its launcher (which reaps them all)."""
        self.cgroup.kill_all(spare=self.launcher.pid)

    def _relax(self) -> None:
        """The limits between runs (SlotConfig), for building the next sandbox: a warm
        interpreter must not meet the last run's memory or process limit."""
        try:
            self.cgroup.relax(
                self.config.between_runs_memory_bytes, self.config.between_runs_pids_max
            )
        except OSError as e:
            raise SandboxError(f"cannot set the slot's limits between runs: {e}") from e

    async def load(self, phase: Phase) -> Jail:
        """Make sure this slot's nsjail serves phase: the running one when it serves it
        and is trusted, else a new one (the old one torn down first).

        Raises:
            SandboxFault: the launcher could not start nsjail in time.
        """
        if self.jail is not None:
            if self.jail.usable and self.jail.phase.key == phase.key:
                return self.jail
            await self._stop_jail()
        if not self.launcher.alive:
            self.kill()
            self.launcher = LauncherClient(self.cgroup)
            self.launcher.start()
        self._relax()  # whatever the last run left (the old nsjail's are being killed)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        ours.setblocking(False)
        adopt = self.cgroup.adopt if self.cgroup.adopts_sandboxes else None
        if adopt is not None:  # the init's READY then says which process it is
            ours.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        log_r, log_w = os.pipe2(os.O_CLOEXEC)
        devnull = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        argv = nsjail.command(
            self.config.nsjail,
            phase.server_policy or phase.policy,
            self.host_id,
            self.workspace.box,
            self.config.init,
            self.config.extra_nsjail_args,
            phase.warm_argv,
            phase.warm_script,
            phase.server_argv,
        )
        try:
            spawning = self.launcher.spawn(
                argv, [devnull, devnull, devnull, theirs.fileno(), log_w]
            )
            async with asyncio.timeout(READY_TIMEOUT_S):
                child = await spawning
        except BaseException as e:
            ours.close()
            os.close(log_r)
            if isinstance(e, TimeoutError):
                raise SandboxFault(
                    f"the slot's launcher did not start nsjail in {READY_TIMEOUT_S:.0f} s",
                    "spawn_timeout",
                ) from e
            raise
        finally:
            theirs.close()
            os.close(log_w)
            os.close(devnull)
        reader = CappedReader(nsjail.MAX_LOG_BYTES)
        reader.start(log_r)
        self.jail = Jail(phase, child, ours, reader, adopt)
        return self.jail

    async def reset(self) -> None:
        """Stop this slot's nsjail; the next run starts a new one (with the current config)."""
        await self._stop_jail()

    async def _stop_jail(self) -> None:
        jail, self.jail = self.jail, None
        if jail is None:
            return
        jail.close()  # its inits see EOF and exit; nsjail would build another: kill it
        self.kill()
        with contextlib.suppress(SandboxError, TimeoutError):
            async with asyncio.timeout(END_TIMEOUT_S):
                await asyncio.shield(jail.child.exited)

    async def run(self, job: RunSpec) -> Finished:
        """Run a program in this slot's next sandbox and classify what happened.

        Raises:
            SandboxFault: the sandbox failed before the program started; the slot is
                rebuilt, and the run may be tried again.
            SandboxError: the sandbox failed after it (nothing is said about the program).
        """
        try:
            jail = await self.load(job.phase)
            await jail.take_ready()
            finished = await self._run(jail, job)
        except SandboxFault:
            # The program never ran: a live run's input is still all there, for the next
            # sandbox it is tried in (Live is attached only once the program runs).
            await self._stop_jail()
            raise
        except BaseException:
            await self._stop_jail()  # whatever state it is in: never trusted again
            if job.live is not None:
                job.live.detach()
            raise
        finally:
            self.workspace.clean()
        if job.live is not None:
            job.live.detach()
        if not jail.usable:  # something went wrong after the run: build afresh now
            await self._stop_jail()
        return finished

    def _stdin(self, job: RunSpec) -> tuple[int, int | None]:
        """The program's stdin (given to the init) and, for a live run, the write end the
        host keeps: a file of the run's bytes, or a pipe that stays open."""
        if job.live is None:
            return self.workspace.stdin_fd(job.stdin), None
        read_end, write_end = os.pipe2(os.O_CLOEXEC)
        return read_end, write_end  # job.stdin goes first once the program runs (attach)

    async def _run(self, jail: Jail, job: RunSpec) -> Finished:
        limits = job.limits
        if jail.phase.warm_argv and jail.warm_bytes >= limits.memory_mb << 20:
            return self._interpreter_over_memory(jail, limits)
        self.workspace.write_files(job.files, job.links)
        stdin_fd, stdin_write = self._stdin(job)
        (out_r, out_w), (err_r, err_w) = os.pipe2(os.O_CLOEXEC), os.pipe2(os.O_CLOEXEC)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        ours.setblocking(False)
        channel = RunChannel(ours)
        stop = asyncio.Event()
        reasons: list[KillReason] = []

        def stop_for(why: KillReason) -> None:
            if not reasons:
                reasons.append(why)
            stop.set()

        cap = limits.output_kb * 1024
        live = job.live
        stdout = CappedReader(
            cap,
            lambda: stop_for(KillReason.OUTPUT),
            (lambda data: live.output("stdout", data)) if live is not None else None,
        )
        stderr = CappedReader(
            cap,
            lambda: stop_for(KillReason.OUTPUT),
            (lambda data: live.output("stderr", data)) if live is not None else None,
        )
        # A warm interpreter is already in the cgroup: the run gets its memory on top of
        # what the interpreter had before the profile's imports (it pays for the
        # interpreter it did not start, as a cold run does; the imports are the profile's).
        warm_bytes = min(jail.warm_bytes, limits.memory_mb << 20) if jail.phase.warm_argv else 0
        try:
            start = self.cgroup.set_limits(
                max((limits.memory_mb << 20) - warm_bytes, WARM_MIN_ROOM_BYTES),
                limits.max_processes + (FORK_SERVER_PROCESSES if jail.phase.server_argv else 0),
            )
            go = protocol.go(
                rlimit_cpu_s(limits.cpu_time_ms),
                limits.max_file_kb * 1024,
                limits.wall_time_ms,
                job.argv,
                sorted(job.links or {}),
            )
            jail.send_go(go, [stdin_fd, out_w, err_w, theirs.fileno()])
        except BaseException:
            channel.close()
            for fd in (out_r, err_r, stdin_write):
                if fd is not None:
                    os.close(fd)
            raise
        finally:
            for fd in (stdin_fd, out_w, err_w):
                os.close(fd)
            theirs.close()
        # Read from here on, before anything that can be cancelled: the readers own the
        # descriptors and close them once.
        stdout.start(out_r)
        stderr.start(err_r)
        started = time.monotonic()
        # The live side's stdin: the slot owns it until the attach takes it (from the list).
        stdin_held = [stdin_write] if stdin_write is not None else []
        attaching = (
            asyncio.ensure_future(self._attach_when_started(live, stdin_held, channel, job.stdin))
            if live is not None
            else None
        )
        try:
            status = await self._supervise(channel, limits, start, stop, stop_for)
            if status is None:  # the init never said: judge by what the host knows
                status = self._without_init(jail, channel, start, started, bool(reasons))
            host_wall_s = time.monotonic() - started
            await self._drain(stdout, stderr)
            counters = self.cgroup.finish(start)
            artifacts, fetched, refused = self._read_back(channel, job)
            self._relax()  # the run's processes are all gone: the init reaped them
        finally:
            if attaching is not None:
                await self._settle_attach(attaching)
            for fd in stdin_held:  # never attached
                os.close(fd)
            channel.close()  # the init exits; nsjail builds the next sandbox
            stdout.close()  # already closed unless the run was cut short
            stderr.close()
            jail.run_ended()
        if channel.execfail is not None:
            raise SandboxFault(
                f"the sandbox could not start {job.argv[0]}: {os.strerror(channel.execfail)}",
                "execfail",
            )
        err = stderr.data().decode(errors="replace")
        usage = Usage(
            # both rounded up: a warm program can end within a millisecond of either, and
            # it did run
            cpu_time_ms=-(-status.cpu_us // 1000),
            wall_time_ms=min(-(-status.wall_us // 1000), math.ceil(host_wall_s * 1000)),
            memory_kb=(
                (counters.memory_peak_bytes + warm_bytes) // 1024
                if counters.memory_peak_bytes is not None
                else status.maxrss_kb  # no cgroup peak on this kernel: the largest process's
            ),
        )
        facts = ExitFacts(
            exit_code=status.exit_code,
            signal=status.signal,
            killed_for=reasons[0] if reasons else None,
            cpu_time_ms=usage.cpu_time_ms,
            wall_time_ms=usage.wall_time_ms,
            oom_kills=counters.oom_kills,
            file_size_hit=status.fsize_hit,
            runtime_memory_error=job.memory_error(err),
            limits=limits,
        )
        result = RunResult(
            outcome=classify(facts),
            stdout=stdout.data().decode(errors="replace"),
            stderr=err,
            exit_code=status.exit_code,
            signal=status.signal,
            usage=usage,
        )
        return Finished(result, artifacts, fetched, refused)

    @staticmethod
    def _interpreter_over_memory(jail: Jail, limits: Limits) -> Finished:
        """A memory limit below the warm interpreter's own size: the interpreter alone is
        over it, as a cold start would be, so the run ends for memory with nothing of the
        program run. The sandbox is not used: the slot builds a fresh one."""
        jail.taint("a warm interpreter over its run's memory limit", "warm_over_memory")
        usage = Usage(cpu_time_ms=0, wall_time_ms=0, memory_kb=limits.memory_mb * 1024)
        result = RunResult(
            outcome=Outcome.MEMORY_LIMIT_EXCEEDED,
            stdout="",
            stderr="",
            exit_code=None,
            signal=signal.SIGKILL,
            usage=usage,
        )
        return Finished(result, {})

    @staticmethod
    async def _attach_when_started(
        live: Live, stdin_held: list[int], channel: RunChannel, initial: bytes
    ) -> None:
        """Hand the live side its program once the program runs (never before: a run that
        fails to start is tried again in another sandbox, its input untouched)."""
        await channel.started_event.wait()
        if stdin_held:  # nothing can cancel between taking the pipe and handing it over
            live.attach(stdin_held.pop(), channel.signal, initial)

    @staticmethod
    async def _settle_attach(attaching: asyncio.Future[None]) -> None:
        """The run is over: an attach not done by now never will be."""
        if not attaching.done():
            attaching.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await attaching

    @staticmethod
    def _read_back(
        channel: RunChannel, job: RunSpec
    ) -> tuple[dict[str, bytes], dict[str, bytes], list[str]]:
        """What the run left that the host asked for: (a compile's artifacts, the files of
        `fetch`, the paths of `fetch` that could not be read)."""
        dir_fd = channel.work_dir_fd
        if dir_fd is None or not (job.collect or job.fetch):
            return {}, {}, [str(p) for p in job.fetch]
        artifacts: dict[str, bytes] = {}
        if job.collect:
            names = top_level_files(dir_fd, job.phase.is_artifact)
            artifacts, _ = read_back(dir_fd, names, MAX_ARTIFACT_BYTES)
        fetched, refused = read_back(dir_fd, job.fetch, job.fetch_max_bytes)
        return artifacts, fetched, refused

    def _without_init(
        self,
        jail: Jail,
        channel: RunChannel,
        start: RunStart,
        started: float,
        stopped_by_host: bool,
    ) -> protocol.Status:
        """The end of a run whose init did not report, told by what the host knows.

        That happens when the OOM killer takes the init (it picks by size), or when the
        host stopped the program for a limit and the init did not answer in time. Either
        way the kernel's OOM counter and the host's own reason are the evidence. The slot
        is torn down whatever the answer.

        Raises:
            SandboxFault: the program never started (the init did not fork it).
            SandboxError: it started, and no evidence explains the init's silence.
        """
        jail.taint("the sandbox init did not report a run", "init_silent")
        jail.close()  # a go still in flight is dropped with its descriptors
        self.kill()
        if not channel.started:
            raise SandboxFault("the sandbox init never started the program", "init_silent")
        if self.cgroup.oom_kills_since(start) == 0 and not stopped_by_host:
            raise SandboxError("the sandbox init ended without reporting how the program ended")
        cpu_us = (self.cgroup.cpu_ns() - start.cpu_ns) // 1000
        elapsed_us = int((time.monotonic() - started) * 1e6)
        return protocol.Status(None, signal.SIGKILL, elapsed_us, cpu_us)

    async def _supervise(
        self,
        channel: RunChannel,
        limits: Limits,
        start: RunStart,
        stop: asyncio.Event,
        stop_for: Callable[[KillReason], None],
    ) -> protocol.Status | None:
        """Wait for the init's status, stopping the program at its CPU, wall or output
        limit. None when the init ended, or went silent after the kill, without saying.

        Raises:
            SandboxError: the init said something that is not a status.
        """
        status_fut = channel.status
        loop = asyncio.get_running_loop()
        sent_at = loop.time()
        wall_s = limits.wall_time_ms / 1000
        cpu_limit_ns = limits.cpu_time_ms * 1_000_000
        stop_wait = asyncio.ensure_future(stop.wait())
        either: list[asyncio.Future[Any]] = [status_fut, stop_wait]
        try:
            while not status_fut.done() and not stop.is_set():
                cpu_ns = self.cgroup.cpu_ns() - start.cpu_ns
                if cpu_ns > cpu_limit_ns:
                    stop_for(KillReason.CPU_TIME)
                    break
                # The wall clock runs from the program's start (STARTED), as the init's
                # does; before it, from the go (a sandbox that never starts is bounded too).
                remaining_wall = (channel.started_at or sent_at) + wall_s - loop.time()
                if remaining_wall <= 0:
                    stop_for(KillReason.WALL_TIME)
                    break
                cpu_room_s = (cpu_limit_ns - cpu_ns) / 1e9 / self.config.cpus
                timeout = min(remaining_wall, max(MIN_CPU_CHECK_S, cpu_room_s))
                await asyncio.wait(either, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop_wait.cancel()
        if stop.is_set() and not status_fut.done():
            channel.kill()
        try:
            async with asyncio.timeout(END_TIMEOUT_S):
                return await asyncio.shield(status_fut)
        except (TimeoutError, InitGoneError):
            return None

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
