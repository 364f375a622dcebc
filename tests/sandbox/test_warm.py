"""Warm start through the real sandbox: what a program can observe is what it sees when
its interpreter starts cold, its CPU time is its own, and its limits hold."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from onpyrunner.errors import SandboxError
from onpyrunner.limits import rlimit_cpu_s
from onpyrunner.models import Outcome
from onpyrunner.sandbox.nsjail import INIT_PATH
from onpyrunner.sandbox.pool import RunOptions, Sandbox
from onpyrunner.settings import Settings
from tests.sandbox.running import run_source
from tests.service import uid_base
from tests.toolchains import need

pytestmark = pytest.mark.sandbox

#: Everything a program sees of its start, as JSON. sys.modules is read first, before
#: this program's own imports add to it.
OBSERVE = """\
import sys
modules = sorted(sys.modules)
import json, os, signal
frame = sys._getframe()
print(json.dumps({
    "modules": modules,
    "globals": sorted((k, type(v).__name__) for k, v in globals().items() if k != "modules"),
    "name": __name__,
    "file": __file__,
    "spec": repr(__spec__),
    "package": repr(__package__),
    "cached": repr(__cached__),
    "loader": type(__loader__).__name__,
    "builtins": repr(__builtins__),
    "argv": sys.argv,
    "orig_argv": getattr(sys, "orig_argv", None),
    "path": sys.path,
    "flags": repr(sys.flags),
    "cwd": os.getcwd(),
    "environ": sorted(os.environ.items()),
    "fds": sorted(os.listdir("/proc/self/fd")),
    "stdin": sys.stdin.read(),
    "stdin_type": [type(sys.stdin).__name__, sys.stdin.encoding, sys.stdin.errors],
    "stdout": [sys.stdout.encoding, sys.stdout.line_buffering, sys.stdout.write_through],
    "signals": {
        s.name: str(signal.getsignal(s)) for s in signal.Signals
        if s not in (signal.SIGKILL, signal.SIGSTOP)
    },
    "pid": os.getpid(),
    "code": frame.f_code.co_filename,
}, sort_keys=True))
"""


@pytest.fixture(scope="module")
async def pools() -> AsyncIterator[dict[str, Sandbox]]:
    """One cold and one warm pool, one slot each."""
    cold = await Sandbox.start(Settings(sandbox_uid_base=uid_base(), warm_start=False), slots=1)
    try:
        warm = await Sandbox.start(Settings(sandbox_uid_base=uid_base(), warm_start=True), slots=1)
        try:
            yield {"cold": cold, "warm": warm}
        finally:
            await warm.close()
    finally:
        await cold.close()


run = run_source


def test_the_pools_start_as_asked(pools: dict[str, Sandbox]) -> None:
    for language in ("python", "pypy", "python-sci"):
        if language in pools["warm"].runtimes:
            assert pools["warm"].runtime(language).run.warm_argv
            assert not pools["cold"].runtime(language).run.warm_argv
    if "c" in pools["warm"].runtimes:
        assert not pools["warm"].runtime("c").run.warm_argv  # compiled: today's path


@pytest.mark.parametrize("language", ["python", "pypy"])
async def test_a_warm_program_sees_what_a_cold_one_sees(
    pools: dict[str, Sandbox], language: str
) -> None:
    need(pools["warm"], language)
    stdin = "first line\nsecond: é\n".encode()
    options = RunOptions(args=("one", "two words"))
    seen = {}
    for name, pool in pools.items():
        result = await run(pool, OBSERVE, language=language, stdin=stdin, options=options)
        assert result.outcome is Outcome.SUCCESS, result.stderr
        seen[name] = json.loads(result.stdout)
    assert seen["warm"] == seen["cold"]
    assert seen["warm"]["name"] == "__main__"
    assert seen["warm"]["argv"] == ["main.py", "one", "two words"]
    assert seen["warm"]["file"] == "/sandbox/main.py"
    assert seen["warm"]["stdin"] == stdin.decode()
    assert seen["warm"]["fds"] == ["0", "1", "2", "3"]  # 3: the listing's own descriptor
    assert seen["warm"]["pid"] == 2


async def test_the_profile_s_pre_imports_are_all_a_program_finds_beyond_a_cold_start(
    pools: dict[str, Sandbox],
) -> None:
    need(pools["warm"], "python-sci")
    seen = {}
    for name, pool in pools.items():
        result = await run(pool, OBSERVE, language="python-sci")
        assert result.outcome is Outcome.SUCCESS, result.stderr
        seen[name] = json.loads(result.stdout)
    cold, warm = set(seen["cold"]["modules"]), set(seen["warm"]["modules"])
    assert cold <= warm
    assert "numpy" in warm - cold
    assert all(m.split(".")[0] in {"numpy"} or m in _stdlib(warm) for m in warm - cold)
    assert not any(m.startswith("_socket") for m in warm - cold)  # the launcher's own
    del seen["cold"]["modules"], seen["warm"]["modules"]
    assert seen["warm"] == seen["cold"]


def _stdlib(modules: set[str]) -> set[str]:
    """The standard library modules among modules (what numpy itself imports)."""
    import sys

    names = sys.stdlib_module_names
    return {m for m in modules if m.split(".")[0] in names}


@pytest.mark.parametrize(
    "code",
    [
        "def f():\n    raise ValueError('boom')\n\nf()\n",
        "print('unclosed'\n",
        "import sys\nsys.exit('a message')\n",
        "import sys\nsys.exit(7)\n",
        "x = 1\nraise KeyboardInterrupt\n",
        "import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n",
        "import atexit\natexit.register(print, 'at exit')\nprint('body')\n",
        "# -*- coding: latin-1 -*-\nprint(len('\xe9'))\n",
        "from __future__ import annotations\ndef f(x: Undefined) -> None: pass\nprint('ok')\n",
        "def f(x: int) -> None: pass\nprint(f.__annotations__)\n",
        "import sys\nsys.exit()\n",
        "import sys\nsys.exit(True)\n",
        "import sys\nsys.exit(-1)\n",
        "import sys\nsys.exit(258)\n",
        "import sys\nsys.exit(1, 2)\n",
        "import os\nprint('gone', flush=True)\nos._exit(3)\n",
        "class A:\n    def __del__(self):\n        print('finalized')\na = A()\nprint('body')\n",
        "count = 3\n_hidden = 4\nclass A:\n    def __del__(self):\n"
        "        print('finalized with', count, _hidden)\nz = A()\n",
        "class A:\n    def __del__(self):\n        print('cycle finalized')\n"
        "a = A()\na.me = a\ndel a\nprint('body')\n",
        "import atexit\nclass F:\n    def __repr__(self):\n        return 'F'\n"
        "    def __call__(self):\n        raise RuntimeError('in atexit')\natexit.register(F())\n",
        "import threading, time\n"
        "threading.Thread(target=lambda: (time.sleep(0.2), print('thread done'))).start()\n"
        "print('main done')\n",
        "import threading, time\n"
        "threading.Thread(target=lambda: time.sleep(30), daemon=True).start()\nprint('left')\n",
        "import sys\nsys.stdout.write('no newline')\nsys.stderr.write('err no newline')\n",
        "import sys\nsys.stdout.close()\n",
        "import sys, io\nsys.stdout = io.StringIO()\nprint('swallowed')\n",
    ],
    ids=[
        "traceback",
        "syntax-error",
        "exit-message",
        "exit-code",
        "keyboard-interrupt",
        "signal",
        "atexit",
        "coding-cookie",
        "future-import",
        "annotations",
        "exit-none",
        "exit-true",
        "exit-negative",
        "exit-past-255",
        "exit-tuple",
        "os-exit",
        "finalizer",
        "finalizer-globals",
        "cycle-finalizer",
        "atexit-raises",
        "thread-joined",
        "daemon-thread",
        "no-newline",
        "stdout-closed",
        "stdout-replaced",
    ],
)
@pytest.mark.parametrize("language", ["python", "pypy"])
async def test_an_ending_is_the_same_warm_or_cold(
    pools: dict[str, Sandbox], code: str, language: str
) -> None:
    # A warm program does not tear its interpreter down (warm.py's _end): what it shows of
    # its end (status, output, finalizers, atexit, threads) must be the interpreter's own.
    need(pools["warm"], language)
    ended = {}
    for name, pool in pools.items():
        source = code.encode("latin-1") if "latin-1" in code else code.encode()
        base = pool.settings.limit_table().defaults
        r = await pool.run(language, source, b"", base)
        ended[name] = (r.outcome, r.exit_code, r.signal, r.stdout, r.stderr)
    assert ended["warm"] == ended["cold"]


async def test_a_file_left_open_at_the_end_is_written_warm_or_cold(
    pools: dict[str, Sandbox],
) -> None:
    code = "f = open('out.txt', 'w')\nf.write('kept')\nlog = open('log.txt', 'a')\nlog.write('1')\n"
    for pool in pools.values():
        base = pool.settings.limit_table().defaults
        r = await pool.run(
            "python", code.encode(), b"", base, RunOptions(fetch=("out.txt", "log.txt"))
        )
        assert r.outcome is Outcome.SUCCESS, r.stderr
        assert r.files == {"out.txt": "a2VwdA==", "log.txt": "MQ=="}


async def test_a_keyboard_interrupt_ends_the_program_by_sigint(pools: dict[str, Sandbox]) -> None:
    result = await run(pools["warm"], "raise KeyboardInterrupt")
    assert result.signal == signal.SIGINT
    assert "KeyboardInterrupt" in result.stderr
    assert "warm.py" not in result.stderr


async def test_the_warm_up_s_cpu_is_not_billed(pools: dict[str, Sandbox]) -> None:
    need(pools["warm"], "python-sci")
    # The interpreter's own clock includes its start-up and numpy's import; the run's
    # CPU time starts at the program.
    code = "import time\nprint(time.process_time())\n"
    result = await run(pools["warm"], code, language="python-sci")
    assert result.outcome is Outcome.SUCCESS
    process_ms = float(result.stdout) * 1000
    assert result.usage.cpu_time_ms < process_ms


async def test_the_cpu_rlimit_bounds_a_warm_program(pools: dict[str, Sandbox]) -> None:
    code = """\
    import resource, time
    soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
    print(soft, hard, time.process_time())
    """
    result = await run(pools["warm"], code, cpu_time_ms=1000)
    assert result.outcome is Outcome.SUCCESS
    soft, hard, used_s = result.stdout.split()
    backstop = rlimit_cpu_s(1000)
    # the run's backstop on top of the warm-up's CPU, rounded up to a second
    assert backstop <= int(soft) <= backstop + math.ceil(float(used_s))
    assert int(hard) == int(soft) + 1


async def test_a_busy_loop_is_stopped_at_its_cpu_limit_warm(pools: dict[str, Sandbox]) -> None:
    result = await run(pools["warm"], "while True: pass", cpu_time_ms=300, wall_time_ms=30000)
    assert result.outcome is Outcome.TIME_LIMIT_EXCEEDED
    assert result.usage.cpu_time_ms >= 300
    assert result.usage.wall_time_ms < 30000


async def test_a_warm_run_pays_for_its_interpreter_s_memory(pools: dict[str, Sandbox]) -> None:
    used = {}
    for name, pool in pools.items():
        result = await run(pool, "print(1)")
        assert result.outcome is Outcome.SUCCESS
        used[name] = result.usage.memory_kb
    assert used["warm"] > 1024  # the interpreter is billed, not free
    assert abs(used["warm"] - used["cold"]) < 4096


async def test_the_memory_limit_holds_warm(pools: dict[str, Sandbox]) -> None:
    code = "x = bytearray(200 * 1024 * 1024)\nprint(len(x))\n"
    result = await run(pools["warm"], code, memory_mb=64)
    assert result.outcome is Outcome.MEMORY_LIMIT_EXCEEDED
    assert result.usage.memory_kb <= 64 * 1024
    # A limit below the interpreter's own size fails for memory, nothing of it run. (A
    # cold start usually fails too, but not always: the page cache earlier runs left in
    # the slot is reclaimable room, docs/sandbox.md, so it is not compared here.)
    result = await run(pools["warm"], "print(1)", memory_mb=1)
    assert result.outcome is Outcome.MEMORY_LIMIT_EXCEEDED, result
    assert result.stdout == ""
    result = await run(pools["warm"], "print(1)")  # and the slot's next sandbox serves
    assert result.outcome is Outcome.SUCCESS


async def test_each_warm_interpreter_serves_one_program(pools: dict[str, Sandbox]) -> None:
    code = "import os, sys\nprint(os.getpid(), id(sys.modules))\nsys.modules['marker'] = 1\n"
    first = await run(pools["warm"], code)
    second = await run(pools["warm"], "import sys\nprint('marker' in sys.modules)\n")
    assert first.outcome is Outcome.SUCCESS
    assert second.stdout == "False\n"


async def test_a_warm_interpreter_gone_before_its_run_costs_the_run_nothing() -> None:
    pool = await Sandbox.start(Settings(sandbox_uid_base=uid_base()), slots=1)
    try:
        await pool.settle()
        slot = pool.slots[0]
        killed = 0
        for pid in slot.cgroup.procs():  # the ready init's child: the warm interpreter
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(INIT_PATH.encode()):
                    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
                        os.kill(int(child), signal.SIGKILL)
                        killed += 1
        assert killed == 1
        result = await run(pool, "print('hello')")
        assert result.outcome is Outcome.SUCCESS  # in the next, fresh sandbox
        assert result.stdout == "hello\n"
        assert pool.rebuilds == {"execfail": 1}
    finally:
        await pool.close()


async def test_a_warm_start_that_fails_fails_the_run_as_the_service_s_error() -> None:
    pool = await Sandbox.start(Settings(sandbox_uid_base=uid_base()), slots=1)
    try:
        python = pool.runtime("python")
        broken = dataclasses.replace(
            python.run,
            warm_argv=(*python.run.warm_argv, "no_such_module_here"),
            server_argv=(*python.run.server_argv, "no_such_module_here")
            if python.run.server_argv
            else (),
        )
        pool.runtimes["python"] = dataclasses.replace(python, run=broken)
        await pool.slots[0].reset()  # its next nsjail starts the broken command
        with pytest.raises(SandboxError, match="refused"):
            await run(pool, "print('never')")
        assert pool.rebuilds.get("refused", 0) >= 1
    finally:
        await pool.close()


async def test_a_warm_up_never_meets_the_last_run_s_limits() -> None:
    pool = await Sandbox.start(Settings(sandbox_uid_base=uid_base()), slots=1)
    try:
        need(pool, "python-sci")
        # The slot's next sandbox (numpy imported, far more than 5 MiB) is built after a
        # run of 5 MiB and one process: with those limits still on, it could never start.
        for language in ("python", "python-sci", "python", "python-sci"):
            tight = await run(pool, "print(1)", language=language, memory_mb=5, max_processes=1)
            assert tight.outcome is Outcome.SUCCESS, tight
            result = await run(pool, "import numpy\nprint(2)", language="python-sci")
            assert result.outcome is Outcome.SUCCESS, result
        assert pool.rebuilds == {}
    finally:
        await pool.close()
