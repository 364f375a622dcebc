"""Slot launcher: a small process that lives in a slot's cgroup and starts nsjail there.

Run as `python -I -S launcher.py FD` (standard library only). The service moves this
process into the slot's cgroup once; every nsjail it spawns is then born inside the
cgroup, so no run pays for attaching a process to a cgroup.

What the launcher starts is the OOM killer's first choice, the launcher its last.

Protocol on the SOCK_SEQPACKET socket FD, one JSON object per message:
  service -> launcher  {"op": "spawn", "id": N, "argv": [...]}  with fds 0..5 attached
                       {"op": "kill", "id": N}  (a spawn the service gave up waiting for)
  launcher -> service  {"op": "spawned", "id": N, "pid": P}
                       {"op": "error", "id": N, "error": "..."}
                       {"op": "exited", "id": N, "status": wait_status}
The service stops a run by killing the processes of the slot's cgroup itself. The launcher
is a child subreaper: whatever is orphaned in the slot is reaped here, never left a zombie.
When the socket closes (the service is gone), every child is killed and the launcher exits.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import selectors
import signal
import socket
import sys

MAX_MESSAGE = 1 << 20
FIRST_FREE_FD = 16
PR_SET_CHILD_SUBREAPER = 36


def _send(sock: socket.socket, message: dict[str, object]) -> None:
    sock.send(json.dumps(message).encode())


def _spawn(argv: list[str], fds: list[int]) -> int:
    """fork + exec with fds as 0, 1, 2, ...; the child is the OOM killer's first choice.

    A fork, not posix_spawn, because the child sets its oom_score_adj before exec, and
    everything in the sandbox inherits it. Once per slot and runtime, not per run.
    """
    pid = os.fork()
    if pid == 0:
        try:
            with open("/proc/self/oom_score_adj", "w") as f:
                f.write("1000")
            signal.set_wakeup_fd(-1)
            # Python ignores SIGPIPE and SIGXFSZ, and an ignored signal stays ignored
            # across exec: nsjail gets the defaults, as from a shell.
            for sig in (signal.SIGCHLD, signal.SIGPIPE, signal.SIGXFSZ):
                signal.signal(sig, signal.SIG_DFL)
            for target, fd in enumerate(fds):
                os.dup2(fd, target)
            os.execv(argv[0], argv)
        finally:
            os._exit(127)
    return pid


class Launcher:
    """The launcher's event loop: requests on the socket, child exits via SIGCHLD."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.selector = selectors.DefaultSelector()
        self.selector.register(sock, selectors.EVENT_READ, "request")
        wake_r, wake_w = socket.socketpair()
        wake_r.setblocking(False)
        wake_w.setblocking(False)
        self.wake_r, self.wake_w = wake_r, wake_w
        signal.set_wakeup_fd(wake_w.fileno(), warn_on_full_buffer=False)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        self.selector.register(wake_r, selectors.EVENT_READ, "sigchld")
        self.children: dict[int, int] = {}  # pid -> id

    def serve(self) -> None:
        while True:
            for key, _ in self.selector.select():
                if key.data == "sigchld":
                    self._reap()
                elif not self._on_request():
                    self._shutdown()
                    return

    def _on_request(self) -> bool:
        try:
            data, fds, _, _ = socket.recv_fds(self.sock, MAX_MESSAGE, 8, socket.MSG_CMSG_CLOEXEC)
        except ConnectionResetError:
            return False
        if not data:
            return False
        try:
            request = json.loads(data)
            if request["op"] == "spawn":
                self._on_spawn(int(request["id"]), [str(a) for a in request["argv"]], fds)
            elif request["op"] == "kill":
                self._on_kill(int(request["id"]))
        finally:
            for fd in fds:
                os.close(fd)
        return True

    def _on_spawn(self, ident: int, argv: list[str], fds: list[int]) -> None:
        try:
            pid = _spawn(argv, fds)
        except OSError as e:
            _send(self.sock, {"op": "error", "id": ident, "error": f"{argv[0]}: {e}"})
            return
        self.children[pid] = ident
        _send(self.sock, {"op": "spawned", "id": ident, "pid": pid})

    def _on_kill(self, ident: int) -> None:
        """Kill the child spawned for ident, if it still runs (not yet reaped, so its pid
        is still its own: requests are handled in order, so its spawn came first)."""
        for pid, child in self.children.items():
            if child == ident:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                return

    def _reap(self) -> None:
        try:
            while self.wake_r.recv(4096):
                pass
        except BlockingIOError:
            pass
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            ident = self.children.pop(pid, None)
            if ident is not None:  # else: an orphan of the slot, now reaped
                _send(self.sock, {"op": "exited", "id": ident, "status": status})

    def _shutdown(self) -> None:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for pid in self.children:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for _ in self.children:
            try:
                os.wait()
            except ChildProcessError:
                break


def main() -> None:
    sock = socket.socket(fileno=int(sys.argv[1]))
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    # The OOM killer picks by size, not by cgroup charge: a run of many small processes
    # must not make the launcher its victim. What the launcher starts is marked +1000
    # (always allowed); shielding the launcher itself needs CAP_SYS_RESOURCE, so it is
    # only tried.
    with contextlib.suppress(PermissionError), open("/proc/self/oom_score_adj", "w") as f:
        f.write("-1000")
    # Occupy the low descriptors so that received fds never collide with 0..5 targets.
    while True:
        fd = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        if fd >= FIRST_FREE_FD:
            os.close(fd)
            break
    Launcher(sock).serve()


if __name__ == "__main__":
    main()
