"""Warm start: a Python interpreter started in its sandbox before its program is known.

Runs inside the sandbox, as `<interpreter> <flags> /.onpyrunner/warm.py N [MODULE ...]`,
started by the sandbox init before the sandbox says it is ready (init.c's header). It
imports the profile's declared modules, says "warm <bytes>" on fd 3 (the memory it had
before those imports), and waits. At the run's go the init sends the run's whole command
line (NUL-separated words; its first N words are this interpreter and its flags, the same
as this process's own) with the run's stdin, stdout and stderr; this launcher says
"running", closes fd 3, and the program runs as
`<interpreter> <flags> <script> <args>` would run it:

- a fresh `__main__` module (`__name__ == "__main__"`, `__file__` the script's absolute
  path, a SourceFileLoader, `__spec__`, `__package__` and `__cached__` None), `sys.argv`
  the script and its arguments, `sys.orig_argv` the whole command, `sys.path[0]` the
  script's directory unless the interpreter's safe_path flag (CPython's -I) leaves it out;
- `sys.modules` as the interpreter's own start-up left it, plus the declared modules and
  what they imported: nothing this launcher used stays;
- the source compiled as a script is (its coding cookie honoured, no __future__ of this
  file), so SyntaxError, tracebacks (this file's frame is cut from them), SystemExit, exit
  codes, an uncaught KeyboardInterrupt (the process ends by SIGINT) and signals are the
  interpreter's own.
What differs: this launcher's frames below the program's (`sys._getframe().f_back` is not
None, `traceback.print_stack()` shows them), /proc/self/cmdline (this launcher's command
line), and the start-up happened earlier (its CPU is not billed to the program; init.c),
with one line compiled before the program (`_rehearse`: the compiler's set-up is then off
the run's path). On CPython, the objects that existed before the program are frozen out
of the collector's sight (`gc.get_freeze_count()` is not 0), and the program ends without
the interpreter's teardown (`_end`: status, messages, threads, atexit, stream flushes and
the program's own finalizers as the interpreter does them).

Standard library only, and only modules the interpreter has loaded at start-up (plus
`_socket`, removed again): this file must run on every Python the catalogue warms (CPython
3.11, PyPy 3.9).
"""

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:  # for annotations only: nothing is imported at run time
    import ctypes
    import types
    from collections.abc import Callable

#: The init's socket, in this process (see init.c).
WARM_FD = 3
#: The most a run's command line may weigh (init.c's MESSAGE_MAX).
MESSAGE_MAX = 65536


def _memory_bytes() -> int:
    """Anonymous memory and page tables of this process: what the program is billed for
    the interpreter it did not have to start."""
    total = 0
    with open("/proc/self/status", "rb") as status:
        for line in status:
            key, _, value = line.partition(b":")
            if key in (b"RssAnon", b"VmPTE"):
                total += int(value.split()[0]) * 1024
    return total


def _receive(warm_bytes: int, prefix: int) -> tuple[list[str], list[int]]:
    """Say "warm" and wait for the run: its command line and its 0, 1, 2. Say "running"
    once they are a run this interpreter can take (the init says STARTED only then); else
    end here, with nothing of a program run (the init reports it as a failed start)."""
    import _socket

    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_SEQPACKET, 0, WARM_FD)
    try:
        sock.send(b"warm %d" % warm_bytes)
        data, ancillary, _, _ = sock.recvmsg(MESSAGE_MAX, _socket.CMSG_SPACE(3 * 4))
        fds: list[int] = []
        for level, kind, blob in ancillary:
            if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
                usable = len(blob) - len(blob) % 4
                fds += [int.from_bytes(blob[i : i + 4], sys.byteorder) for i in range(0, usable, 4)]
        words = [os.fsdecode(word) for word in data.split(b"\0")[:-1]]
        own = getattr(sys, "orig_argv", None)
        if len(fds) != 3 or len(words) <= prefix or (own and words[:prefix] != own[:prefix]):
            os._exit(127)  # not a run the init sends, or one for another interpreter
        sock.send(b"running")
    finally:
        sock.close()
    return words, fds


def _fresh_main(path: str) -> dict[str, object]:
    """A new __main__ module for the script at path, as the interpreter makes it."""
    main = type(sys)("__main__")
    namespace = main.__dict__
    loader_type = sys.modules["_frozen_importlib_external"].SourceFileLoader
    namespace["__loader__"] = loader_type("__main__", path)
    namespace["__annotations__"] = {}
    namespace["__builtins__"] = sys.modules["builtins"]
    namespace["__file__"] = path
    namespace["__cached__"] = None
    sys.modules["__main__"] = main
    return namespace


def _run(path: str) -> None:
    """Compile and run the script; an uncaught exception is reported as the interpreter
    reports it, with this launcher's frames cut from its traceback."""
    try:
        try:
            with open(path, "rb") as script:
                source = script.read()
        except OSError as e:
            sys.stderr.write(
                f"{sys.executable}: can't open file {path!r}: [Errno {e.errno}] {e.strerror}\n"
            )
            raise SystemExit(2) from None
        code = compile(source, path, "exec", dont_inherit=True)
        del source
        exec(code, _fresh_main(path))
    except SystemExit:
        raise
    except BaseException as e:
        tb = e.__traceback__
        while tb is not None and tb.tb_frame.f_code is _run.__code__:
            tb = tb.tb_next
        e.__traceback__ = tb
        sys.last_type, sys.last_value, sys.last_traceback = type(e), e, tb
        sys.excepthook(type(e), e, tb)
        if isinstance(e, KeyboardInterrupt):  # the interpreter ends by SIGINT then
            import signal

            for stream in (sys.stdout, sys.stderr):
                stream.flush()
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGINT)
        raise SystemExit(1) from None


def _take_run(
    prefix: int, warm_bytes: int, keep: set[str], launcher_dir: str, drop: "list[str] | None" = None
) -> None:
    """Wait for the run, then run it (see the module's docstring). `drop`: the modules not
    in `keep`, when the caller knows them (a forked interpreter: the server's own)."""
    words, fds = _receive(warm_bytes, prefix)
    import gc  # before the program's modules are settled: it never sees this import

    for name in set(sys.modules) - keep if drop is None else drop:
        sys.modules.pop(name, None)
    for target, fd in enumerate(fds):
        if fd != target:
            os.dup2(fd, target)
            os.close(fd)
    program = words[prefix:]
    path = os.path.abspath(program[0])
    sys.argv = program
    if hasattr(sys, "orig_argv"):
        sys.orig_argv = words
    if sys.path and sys.path[0] == launcher_dir and not getattr(sys.flags, "safe_path", False):
        sys.path[0] = os.path.dirname(path)
    if sys.implementation.name != "cpython":  # PyPy ends as it would have (see _end)
        _run(path)
        return
    gc.freeze()  # the program's collections, and the one at its end, see only its objects
    try:
        _run(path)
    except SystemExit as e:
        _end(e, gc)
    _end(SystemExit(), gc)


def _end(exit: SystemExit, gc: "types.ModuleType") -> None:
    """End the program as the interpreter's own exit does, as far as a program can tell,
    without tearing the interpreter down (that took 2 ms of CPU for a hello world here,
    10 ms with numpy loaded): the exit status and message of `exit`; then, in CPython's
    order, non-daemon threads joined, atexit handlers run, the standard streams flushed
    (a flush that fails is reported and makes the status 120), the program's module
    cleared and its cyclic garbage collected (so its objects' finalizers run and files it
    left open are flushed and closed); then the process ends. Objects of other modules
    that are alive at the end are not finalized: Python does not promise that either.
    CPython only: PyPy runs no finalizer at its exit but flushes every file still open,
    which a program could not do for itself, so a PyPy program ends as it would have."""
    code = exit.code
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code & 0xFF
    else:
        status = 1
        try:
            sys.stderr.write(f"{code}\n")
        except BaseException:
            pass
    threading = sys.modules.get("threading")
    if threading is not None:
        try:
            threading._shutdown()
        except BaseException as e:  # the interpreter reports it and goes on
            _report_ignored("threading._shutdown", e)
    import atexit

    atexit._run_exitfuncs()
    if not _flush_streams():
        status = 120
    _finalize_main(gc)
    _flush_streams()
    os._exit(status)


def _finalize_main(gc: "types.ModuleType") -> None:
    """Finalize the program's module as the interpreter's exit does (CPython's
    finalize_modules): forget the last uncaught exception, take the module out of
    sys.modules and collect garbage, so that its objects in cycles (a class with __del__
    always is: its methods hold the module's globals) are finalized with every global still
    there; then, if the module is still alive, set its globals to None in the
    interpreter's order and collect again."""
    import _weakref

    main = sys.modules.get("__main__")
    if main is None or main.__dict__ is globals():  # this file's: the program never ran
        gc.collect()
        return
    for name in ("last_type", "last_value", "last_traceback"):
        setattr(sys, name, None)
    del sys.modules["__main__"]
    alive = _weakref.ref(main)
    del main
    gc.collect()
    main = alive()
    if main is not None:
        _clear_module(main.__dict__)
        del main
        gc.collect()


def _clear_module(namespace: dict[str, object]) -> None:
    """Clear a module's globals as the interpreter does at its exit (CPython's
    _PyModule_ClearDict): each set to None, names with one leading underscore first, then
    all the others but __builtins__; so a finalizer that runs meanwhile finds the names it
    would have found."""
    for single_underscore in (True, False):
        for key, value in list(namespace.items()):
            if value is None or not isinstance(key, str):
                continue
            if single_underscore:
                if key[:1] == "_" and key[1:2] != "_":
                    namespace[key] = None
            elif key != "__builtins__":
                namespace[key] = None


def _flush_streams() -> bool:
    """Flush sys.stdout and sys.stderr as the interpreter does at exit; False when one
    failed (stdout's failure reported as the interpreter reports it, stderr's not)."""
    flushed = True
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None and not getattr(stream, "closed", False):
                stream.flush()
        except BaseException as e:
            flushed = False
            if stream is sys.stdout:
                _report_ignored(repr(stream), e)
    return flushed


def _report_ignored(where: str, e: BaseException) -> None:
    """Say an exception was ignored, as the interpreter does (briefly), on stderr."""
    try:
        sys.stderr.write(f"Exception ignored in: {where}\n{type(e).__name__}: {e}\n")
    except BaseException:
        pass


def _rehearse() -> None:
    """Compile a line of Python once before the program comes: an interpreter's first
    compile sets up the compiler (0.6 to 0.9 ms here, against 25 us for the next one), work
    the run's latency then does not pay. Nothing of it stays that a program could see."""
    compile(b"print(__name__)\n", "/sandbox/main.py", "exec", dont_inherit=True)


def main() -> None:
    launcher_dir = os.path.dirname(os.path.abspath(sys.argv[0]))
    if sys.argv[1] == SERVE_FLAG:
        plan = _serve(launcher_dir)  # returns in a run's interpreter only
        _take_run(plan.prefix, plan.warm_bytes, plan.keep, plan.launcher_dir, plan.drop)
        return
    prefix = int(sys.argv[1])
    warm_bytes = _memory_bytes()
    for name in sys.argv[2:]:
        __import__(name)
    _rehearse()
    _take_run(prefix, warm_bytes, set(sys.modules), launcher_dir)


# --- The fork server (opt-in: docs/sandbox.md, "Fork server") -----------------------------
#
# `<interpreter> <flags> warm.py --serve N RUNS SYSCALLS CWD MOUNT... -- MODULE...` is
# started by nsjail itself (not by an init), as PID 1 of a sandbox of its own, under a
# policy that differs from a program's only in allowing SYSCALLS (comma-separated: those
# that build a sandbox's namespaces; `clone&MASK`: clone with any of MASK's flags) and in
# a writable /proc. It imports the MODULEs once, then for each run clones a child into
# fresh namespaces (`_init_side`), and waits for that child to end before it clones the
# next: RUNS times at most, then it exits and nsjail starts a fresh server (a new hash
# seed, a new address-space layout). The server never reads a byte of a run: each child's
# init takes its run from the host. Each MOUNT is "<dst>:<MS_* flags>:<tmpfs options>", a
# tmpfs the policy mounts, which each child mounts afresh.
#
# Process tree of one run, and who does what:
#   server (PID 1 of its sandbox)  clone, wait, repeat
#   └─ PID 1 of new user, mount, pid, net, ipc, uts and cgroup namespaces: map the server's
#      uid to itself; mount the tmpfs's and a read-only /proc afresh; the loopback up; deny
#      SYSCALLS (seccomp); fork the interpreter; exec the init (`init --forked <pid> <fd>`)
#      └─ PID 2, the run's interpreter: no capabilities, fresh random generators, only
#         /dev/null and its socket; it returns from _serve and waits for its run as a warm
#         interpreter does (main)

SERVE_FLAG = "--serve"
#: The slot's socket (nsjail's --pass_fd), which each sandbox's init takes over.
SLOT_FD = 3
INIT_PATH = "/.onpyrunner/init"
#: Namespace flags of a run's sandbox (linux/sched.h): every one nsjail gives a sandbox.
_NAMESPACES = (
    0x00020000  # CLONE_NEWNS
    | 0x02000000  # CLONE_NEWCGROUP
    | 0x04000000  # CLONE_NEWUTS
    | 0x08000000  # CLONE_NEWIPC
    | 0x10000000  # CLONE_NEWUSER
    | 0x20000000  # CLONE_NEWPID
    | 0x40000000  # CLONE_NEWNET
)
_MS_RDONLY = 0x1
_SIOCGIFFLAGS, _SIOCSIFFLAGS, _IFF_UP = 0x8913, 0x8914, 0x1
_PR_CAPBSET_DROP = 24
_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 22, 2
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
_SCMP_ACT_ALLOW = 0x7FFF0000
_SCMP_ACT_ERRNO = 0x00050000
_SCMP_CMP_MASKED_EQ = 7
_EPERM, _ECHILD, _EBUSY, _EINVAL = 1, 10, 16, 22
_SIGCHLD = 17
#: The most descriptors a process of the sandbox may hold (the policy's rlimit_nofile is
#: below it): everything from here on is closed before a run's interpreter waits.
_FD_MAX = 65536


class _Plan:
    """What each child of the fork server needs (see _serve's argv)."""

    def __init__(
        self,
        prefix: int,
        warm_bytes: int,
        keep: set[str],
        launcher_dir: str,
        syscalls: list[str],
        cwd: str,
        mounts: list[str],
    ) -> None:
        self.prefix = prefix
        self.warm_bytes = warm_bytes
        self.keep = keep
        self.launcher_dir = launcher_dir
        self.syscalls = syscalls
        self.cwd = cwd
        self.mounts = mounts
        #: The seccomp filter (a struct sock_fprog and the program it points to) each
        #: child loads; compiled once, by the server.
        self.deny: tuple[object, object] | None = None
        #: The modules the server imported for itself, which a run's interpreter drops.
        self.drop: list[str] = []
        #: The server's uid and gid, which each child maps to themselves.
        self.uid, self.gid = os.getuid(), os.getgid()
        #: capset(2)'s arguments for no capability at all (made once, not per run).
        self.no_capabilities = _no_capabilities()
        #: The C library, for the calls os has no wrapper of.
        self.libc = _libc()


def _libc() -> "ctypes.CDLL":
    import ctypes

    return ctypes.CDLL(None, use_errno=True)


def _no_capabilities() -> tuple[object, object]:
    """(header, data) pointers for capset(2): version 3, this process, every set empty."""
    import ctypes

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [
            ("effective", ctypes.c_uint32),
            ("permitted", ctypes.c_uint32),
            ("inheritable", ctypes.c_uint32),
        ]

    return ctypes.pointer(Header(_LINUX_CAPABILITY_VERSION_3, 0)), (Data * 2)()


def _serve(launcher_dir: str) -> _Plan:
    """The fork server's loop; returns only in a run's interpreter (PID 2 of its sandbox),
    with what it needs to take its run. The server itself exits here."""
    plan, clone = _start_server(launcher_dir)
    import select  # after the server's start: not among the modules a run may find

    poller = select.poll()
    poller.register(SLOT_FD, select.POLLHUP)
    for _ in range(int(sys.argv[3])):
        if poller.poll(0):
            break  # the host is gone
        if _threads() != 1:  # a thread would not survive the clone (runtimes.py keeps a
            _refuse(_EBUSY)  # profile with BLAS threads off the fork server)
        child = clone()
        if child < 0:
            import ctypes

            _refuse(ctypes.get_errno() or _EPERM)
        if child == 0:
            try:
                if _init_side(plan):
                    return plan  # the run's interpreter
            except BaseException:
                pass
            os._exit(125)
        while True:  # PID 1 of this sandbox: reap whatever ends, until the child has
            pid, status = os.waitpid(-1, 0)
            if pid == child:
                break
        if status != 0 and os.WIFEXITED(status) and os.WEXITSTATUS(status) == 125:
            break  # the child could not build its sandbox (it said so to the host)
    os._exit(0)


def _start_server(launcher_dir: str) -> "tuple[_Plan, Callable[[], int]]":
    """The server's start (argv: see above): the MODULEs imported, the compiler rehearsed,
    everything frozen out of the collector's sight, and what each child needs made once:
    the plan, and the clone call."""
    prefix = int(sys.argv[2])
    syscalls = [name for name in sys.argv[4].split(",") if name]
    cwd = sys.argv[5]
    split = sys.argv.index("--", 6)
    mounts = sys.argv[6:split]
    warm_bytes = _memory_bytes()
    try:
        for name in sys.argv[split + 1 :]:
            __import__(name)
    except BaseException:
        _refuse(_ECHILD)  # as the init refuses when its warm interpreter cannot start
    _rehearse()
    keep = set(sys.modules)  # what a run may find imported: nothing of what follows
    import gc

    # Every object so far out of the collector's sight: a run's collections (its exit's
    # above all) then never touch, and so copy, the pages it shares with the server
    # (halves the exit of a numpy run: 22 ms of CPU to 10 here).
    gc.freeze()
    import _socket  # noqa: F401 - what every child uses, imported once, here
    import fcntl  # noqa: F401
    import select  # noqa: F401
    import struct  # noqa: F401

    plan = _Plan(prefix, warm_bytes, keep, launcher_dir, syscalls, cwd, mounts)
    try:
        plan.deny = _denial(syscalls)
        clone = _cloner()
    except OSError as e:
        _refuse(e.errno or _EPERM)
    plan.drop = sorted(set(sys.modules) - keep)
    return plan, clone


def _threads() -> int:
    with open("/proc/self/status", "rb") as status:
        for line in status:
            if line.startswith(b"Threads:"):
                return int(line.split()[1])
    return 0


def _check(libc: "ctypes.CDLL", result: int, what: str) -> None:
    if result != 0:
        import ctypes

        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _refuse(err: int) -> None:
    """Say "refused <errno>" to the host, as the init would, and end this process."""
    import _socket

    try:
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_SEQPACKET, 0, SLOT_FD)
        sock.send(b"refused %d" % err)
    except OSError:
        pass
    os._exit(125)


def _loopback_up() -> None:
    """The new network namespace's loopback, up (nsjail brings it up in a cold sandbox)."""
    import _socket
    import fcntl
    import struct

    sock = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM)
    try:
        request = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(sock.fileno(), _SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(sock.fileno(), _SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | _IFF_UP))
    finally:
        sock.close()


def _init_side(plan: _Plan) -> bool:
    """PID 1 of the run's namespaces, cloned into them by the server: map the server's
    user to itself (the only id of the new user namespace), mount fresh tmpfs where the
    policy has them and a fresh /proc, bring the loopback up, deny the server's extra
    syscalls from here on, fork the run's interpreter (`_program_side`), and become the
    init. True in the interpreter. A step that fails is said to the host as the init says
    it ("refused <errno>"): nothing of a run has begun."""
    libc = plan.libc
    try:
        for path, text in (
            ("/proc/self/setgroups", b"deny"),
            ("/proc/self/uid_map", b"%d %d 1" % (plan.uid, plan.uid)),
            ("/proc/self/gid_map", b"%d %d 1" % (plan.gid, plan.gid)),
        ):
            fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
            try:
                os.write(fd, text)
            finally:
                os.close(fd)
        for spec in plan.mounts:
            dst, flags, options = spec.split(":", 2)
            _check(
                libc,
                libc.mount(b"tmpfs", dst.encode(), b"tmpfs", int(flags), options.encode()),
                f"mount {dst}",
            )
        _check(libc, libc.mount(b"proc", b"/proc", b"proc", _MS_RDONLY, None), "mount /proc")
        os.chdir(plan.cwd)
        _loopback_up()
        if plan.deny is None:
            raise OSError(_EINVAL, "no seccomp filter")
        _check(
            libc, libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, plan.deny[0], 0, 0), "seccomp"
        )
        import _socket

        ours, theirs = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
        program = os.fork()
    except OSError as e:
        _refuse(e.errno or _EPERM)
    if program == 0:
        ours.close()
        _program_side(libc, theirs.detach(), plan)
        return True
    try:
        theirs.close()
        sock = ours.detach()
        os.set_inheritable(sock, True)
        os.closerange(SLOT_FD + 1, sock)
        os.closerange(sock + 1, _FD_MAX)
        os.execv(INIT_PATH, [INIT_PATH, "--forked", str(program), str(sock)])
    except OSError as e:
        _refuse(e.errno or _EPERM)
    return False  # not reached: execv or _refuse


def _cloner() -> "Callable[[], int]":
    """clone(2) into a fresh user, mount, pid, net, ipc, uts and cgroup namespace, as a
    fork (a copy of this process, SIGCHLD to the parent): the child is PID 1 of its pid
    namespace at once, with no process between it and the server. The raw system call,
    with the interpreter's lock held throughout (PyDLL), since os.fork() cannot enter
    namespaces; the child is a copy of this single-threaded process, and the interpreter
    it forks next goes through os.fork() and its after-fork handlers."""
    import ctypes

    number = _syscall_number("clone")
    syscall = ctypes.PyDLL(None, use_errno=True).syscall
    syscall.restype = ctypes.c_long
    syscall.argtypes = [ctypes.c_long, ctypes.c_ulong, *[ctypes.c_void_p] * 4]
    flags = _NAMESPACES | _SIGCHLD
    return lambda: int(syscall(number, flags, None, None, None, None))


def _syscall_number(name: str) -> int:
    """The number of system call `name` on this machine (libseccomp's table)."""
    import ctypes

    seccomp = ctypes.CDLL("libseccomp.so.2")
    seccomp.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    number = int(seccomp.seccomp_syscall_resolve_name(name.encode()))
    if number < 0:
        raise OSError(_EINVAL, f"seccomp: no system call {name}")
    return number


def _denial(syscalls: list[str]) -> tuple[object, object]:
    """A seccomp filter that makes each of syscalls fail with EPERM, as the run policy does
    (stacked on the server's, it leaves exactly the run policy), compiled by libseccomp:
    (a pointer to its struct sock_fprog, the filter), for prctl(PR_SET_SECCOMP). A name
    `call&MASK` denies the call only when its first argument has one of MASK's bits (the
    run policy's `clone { (clone_flags & MASK) != 0 }`): one rule per bit."""
    import ctypes

    class ArgCompare(ctypes.Structure):  # struct scmp_arg_cmp
        _fields_ = [
            ("arg", ctypes.c_uint),
            ("op", ctypes.c_int),
            ("datum_a", ctypes.c_uint64),
            ("datum_b", ctypes.c_uint64),
        ]

    seccomp = ctypes.CDLL("libseccomp.so.2", use_errno=True)
    seccomp.seccomp_init.restype = ctypes.c_void_p
    seccomp.seccomp_init.argtypes = [ctypes.c_uint32]
    seccomp.seccomp_rule_add.argtypes = [
        ctypes.c_void_p,
        ctypes.c_uint32,
        ctypes.c_int,
        ctypes.c_uint,
    ]
    seccomp.seccomp_rule_add_array.argtypes = [
        ctypes.c_void_p,
        ctypes.c_uint32,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.POINTER(ArgCompare),
    ]
    seccomp.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
    seccomp.seccomp_release.argtypes = [ctypes.c_void_p]
    context = seccomp.seccomp_init(_SCMP_ACT_ALLOW)
    if not context:
        raise OSError(_EPERM, "seccomp_init")
    read_end, write_end = os.pipe()
    try:
        for entry in syscalls:
            name, _, mask_text = entry.partition("&")
            number = _syscall_number(name)
            action = _SCMP_ACT_ERRNO | _EPERM
            if not mask_text:
                result = seccomp.seccomp_rule_add(context, action, number, 0)
            else:
                mask = int(mask_text, 16)
                bits = [1 << i for i in range(64) if mask >> i & 1]
                for bit in bits:
                    compare = ArgCompare(0, _SCMP_CMP_MASKED_EQ, bit, bit)
                    result = seccomp.seccomp_rule_add_array(
                        context, action, number, 1, ctypes.byref(compare)
                    )
                    if result != 0:
                        break
            if result != 0:
                raise OSError(-result, f"seccomp_rule_add {entry}")
        result = seccomp.seccomp_export_bpf(context, write_end)
        if result != 0:
            raise OSError(-result, "seccomp_export_bpf")
        os.close(write_end)
        write_end = -1
        program = b""
        while chunk := os.read(read_end, 65536):
            program += chunk
    finally:
        seccomp.seccomp_release(context)
        os.close(read_end)
        if write_end >= 0:
            os.close(write_end)
    if not program or len(program) % 8:
        raise OSError(_EINVAL, "seccomp_export_bpf gave no filter")

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    instructions = ctypes.create_string_buffer(program, len(program))
    fprog = SockFprog(len(program) // 8, ctypes.addressof(instructions))
    return ctypes.pointer(fprog), (fprog, instructions)


def _program_side(libc: "ctypes.CDLL", sock: int, plan: _Plan) -> None:
    """Make this process the run's interpreter as the init would have started it: /dev/null
    as 0, 1, 2, its socket as fd 3 and no other descriptor, no capability (bounding set
    included), the default signal mask, fresh random generators. Any failure ends it: its
    init then refuses (it never said "warm")."""
    import ctypes

    try:
        null = os.open("/dev/null", os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.dup2(sock, SLOT_FD)  # the slot's socket is gone from this process
        os.closerange(SLOT_FD + 1, _FD_MAX)
        for cap in range(64):
            if libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
                if ctypes.get_errno() == _EINVAL:
                    break  # past the kernel's last capability
                _check(libc, -1, "drop a bounding capability")
        _check(libc, libc.capset(*plan.no_capabilities), "capset")
        numpy_random = sys.modules.get("numpy.random")
        if numpy_random is not None:
            numpy_random.seed()  # its legacy global generator; `random` reseeds at fork
    except BaseException:
        os._exit(127)


if __name__ == "__main__":
    main()
