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
line), and the start-up happened earlier (its CPU is not billed to the program; init.c).

Standard library only, and only modules the interpreter has loaded at start-up (plus
`_socket`, removed again): this file must run on every Python the catalogue warms (CPython
3.11, PyPy 3.9).
"""

import os
import sys

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


def main() -> None:
    prefix = int(sys.argv[1])
    launcher_dir = os.path.dirname(os.path.abspath(sys.argv[0]))
    warm_bytes = _memory_bytes()
    for name in sys.argv[2:]:
        __import__(name)
    keep = set(sys.modules)
    words, fds = _receive(warm_bytes, prefix)
    for name in set(sys.modules) - keep:
        del sys.modules[name]
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
    _run(path)


if __name__ == "__main__":
    main()
