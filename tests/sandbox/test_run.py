"""Programs, hostile or not, through the real nsjail sandbox: outcome and the relevant fact."""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import textwrap
import time
from pathlib import Path

import pytest

from onpyrunner.limits import Limits
from onpyrunner.models import Outcome, RunResult
from onpyrunner.sandbox import cgroup
from onpyrunner.sandbox.live import Live
from onpyrunner.sandbox.nsjail import INIT_PATH
from onpyrunner.sandbox.pool import RunOptions, Sandbox
from onpyrunner.sandbox.runtimes import phases_of
from onpyrunner.settings import Settings
from tests.toolchains import need

pytestmark = pytest.mark.sandbox


async def run(
    sandbox: Sandbox, code: str, stdin: bytes = b"", language: str = "python", **limits: int
) -> RunResult:
    base = sandbox.settings.limit_table().defaults.model_dump()
    base.update(limits)
    return await sandbox.run(language, textwrap.dedent(code).encode(), stdin, Limits(**base))


async def test_hello_world(sandbox: Sandbox) -> None:
    result = await run(sandbox, "print('hello, world')")
    assert result.outcome is Outcome.SUCCESS
    assert result.stdout == "hello, world\n"
    assert result.stderr == ""
    assert (result.exit_code, result.signal) == (0, None)
    assert result.usage.cpu_time_ms > 0
    assert result.usage.wall_time_ms > 0
    assert result.usage.memory_kb > 0


async def test_exit_code_3_is_a_runtime_error(sandbox: Sandbox) -> None:
    result = await run(sandbox, "import sys; sys.exit(3)")
    assert result.outcome is Outcome.RUNTIME_ERROR
    assert (result.exit_code, result.signal) == (3, None)


async def test_uncaught_exception_leaves_its_traceback_on_stderr(sandbox: Sandbox) -> None:
    result = await run(sandbox, "def f():\n    raise ValueError('boom')\nf()\n")
    assert result.outcome is Outcome.RUNTIME_ERROR
    assert result.exit_code == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert "ValueError: boom" in result.stderr


async def test_syntax_error(sandbox: Sandbox) -> None:
    result = await run(sandbox, "print('unclosed'\n")
    assert result.outcome is Outcome.RUNTIME_ERROR
    assert "SyntaxError" in result.stderr


@pytest.mark.timing  # the init's own CPU counts in the cgroup, not in the program's rusage
async def test_busy_loop_is_a_cpu_time_limit(sandbox: Sandbox) -> None:
    result = await run(sandbox, "while True: pass", cpu_time_ms=500, wall_time_ms=30000)
    assert result.outcome is Outcome.TIME_LIMIT_EXCEEDED
    assert result.usage.cpu_time_ms >= 500
    assert result.usage.wall_time_ms < 30000  # the CPU limit stopped it, not the wall


async def test_sleep_is_a_wall_time_limit_and_returns_promptly(sandbox: Sandbox) -> None:
    started = time.monotonic()
    result = await run(sandbox, "import time; time.sleep(100)", wall_time_ms=1000)
    elapsed = time.monotonic() - started
    assert result.outcome is Outcome.TIME_LIMIT_EXCEEDED
    assert result.usage.wall_time_ms >= 1000
    assert result.usage.cpu_time_ms < 500
    assert elapsed < 30  # after the wall limit, not after the 100 s sleep (any load)


async def test_cpu_time_of_child_processes_is_summed(sandbox: Sandbox) -> None:
    code = """
        import os, time
        def burn(seconds):
            end = time.process_time() + seconds
            while time.process_time() < end:
                pass
        pids = []
        for _ in range(3):
            pid = os.fork()
            if pid == 0:
                burn(0.4)
                os._exit(0)
            pids.append(pid)
        for pid in pids:
            os.waitpid(pid, 0)
        print('done')
    """
    result = await run(sandbox, code, cpu_time_ms=5000, wall_time_ms=10000)
    assert result.outcome is Outcome.SUCCESS
    assert result.usage.cpu_time_ms >= 3 * 400 * 0.9


@pytest.mark.timing  # the init's own CPU counts in the cgroup, not in the program's rusage
async def test_threads_burning_cpu_hit_the_limit_of_the_whole_tree(sandbox: Sandbox) -> None:
    code = """
        import os, threading
        def burn():
            while True:
                pass
        for _ in range(2):
            threading.Thread(target=burn, daemon=True).start()
        for _ in range(2):
            if os.fork() == 0:
                burn()
        burn()
    """
    result = await run(sandbox, code, cpu_time_ms=1000, wall_time_ms=30000)
    assert result.outcome is Outcome.TIME_LIMIT_EXCEEDED
    assert result.usage.cpu_time_ms >= 1000
    # The limit is the whole tree's: were it each process's, the three processes would
    # each run to their own CPU rlimit (3 s) before anything stopped them.
    assert result.usage.cpu_time_ms < 3 * 3000


async def test_memory_bomb_is_a_memory_limit(sandbox: Sandbox) -> None:
    code = """
        chunks = []
        while True:
            chunks.append(bytearray(8 * 1024 * 1024))
    """
    result = await run(sandbox, code, memory_mb=64)
    assert result.outcome is Outcome.MEMORY_LIMIT_EXCEEDED
    # The run's memory is counted from the slot's usage when it starts, the limit is set
    # from that same usage: the peak never passes the limit, and the kernel charges up to
    # within pages of it before it kills.
    assert 60 * 1024 <= result.usage.memory_kb <= 64 * 1024


async def test_a_runs_memory_never_includes_an_earlier_run_of_its_slot(
    settings: Settings,
) -> None:
    # One slot, so both runs are its: the second run's peak is its own, not the first's
    # (on kernel 6.1 memory.peak cannot be reset: a cgroup shared by runs would report
    # the first run's 96 MiB for the second).
    # Its own uids: nothing of this pool is ever taken for a leftover of the shared one.
    own = settings.model_copy(update={"sandbox_uid_base": settings.sandbox_uid_base + 500})
    pool = await Sandbox.start(own, slots=1)
    try:
        big = await run(pool, "block = bytearray(96 * 1024 * 1024)")
        small = await run(pool, "print('hello, world')")
    finally:
        await pool.close()
    assert big.outcome is Outcome.SUCCESS and small.outcome is Outcome.SUCCESS
    assert big.usage.memory_kb >= 96 * 1024
    assert small.usage.memory_kb < 32 * 1024, small.usage


#: Big files of the host that the bash sandbox can read and that nothing here maps.
CACHE_FILES = [
    Path("/usr/lib/x86_64-linux-gnu/libLLVM-14.so.1"),
    Path("/usr/lib/x86_64-linux-gnu/libLLVM-15.so.1"),
    Path("/usr/bin/x86_64-linux-gnu-lto-dump-12"),
]


def _unmapped_cache(pool: Sandbox) -> int:
    stat = (pool.slots[0].cgroup.memory / "memory.stat").read_text()  # type: ignore[attr-defined]
    fields = {k: int(v) for k, v in (line.split() for line in stat.splitlines())}
    return fields["total_active_file"] + fields["total_inactive_file"] - fields["total_mapped_file"]


async def test_page_cache_an_earlier_run_read_is_no_room_for_the_next(settings: Settings) -> None:
    # cgroup v1 counts the page cache a run reads in its slot's usage, where it stays after
    # the run; the kernel reclaims it to make room. A limit set at "usage + limit" gave the
    # next program its limit plus all of that cache (CI saw numpy fill 400 MB under a
    # 128 MiB limit). The run's room is its limit, whatever the slot read before.
    if cgroup.detect(settings.cgroup_parent, "probe").version is not cgroup.CgroupVersion.V1:
        pytest.fail("this machine kind has cgroup v1; the v2 path gives each run a new leaf")
    own = settings.model_copy(update={"sandbox_uid_base": settings.sandbox_uid_base + 510})
    pool = await Sandbox.start(own, slots=1)
    try:
        for path in CACHE_FILES:  # out of the page cache, so that the run's reads charge it
            fd = os.open(path, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)
        names = " ".join(str(p) for p in CACHE_FILES)
        read = await run(pool, f"cat {names} > /dev/null", language="bash", memory_mb=512)
        assert read.outcome is Outcome.SUCCESS, read.stderr
        cached = _unmapped_cache(pool)
        assert cached >= 96 << 20, f"the slot holds only {cached} bytes of cache"
        # Over the 64 MiB limit, and under the limit plus the cache the slot holds.
        size = (64 << 20) + cached // 2
        grab = await run(pool, f"block = b'x' * {size}\nprint(len(block))", memory_mb=64)
    finally:
        await pool.close()
    assert grab.outcome is Outcome.MEMORY_LIMIT_EXCEEDED, (grab.outcome, grab.usage)
    assert grab.usage.memory_kb <= 64 * 1024


async def test_memory_of_child_processes_counts_together(sandbox: Sandbox) -> None:
    code = """
        import os, time
        for _ in range(4):
            if os.fork() == 0:
                block = bytearray(24 * 1024 * 1024)
                time.sleep(5)
                os._exit(0)
        os.wait()
    """
    result = await run(sandbox, code, memory_mb=64)
    assert result.outcome is Outcome.MEMORY_LIMIT_EXCEEDED


async def test_many_small_processes_exhausting_memory_are_a_memory_limit(
    sandbox: Sandbox,
) -> None:
    code = """
        import os, time
        for _ in range(40):
            if os.fork() == 0:
                block = bytearray(3 * 1024 * 1024)
                time.sleep(5)
                os._exit(0)
        time.sleep(5)
    """
    launchers = [slot.launcher.pid for slot in sandbox.slots]
    result = await run(sandbox, code, memory_mb=48, max_processes=64)
    assert result.outcome is Outcome.MEMORY_LIMIT_EXCEEDED
    assert [slot.launcher.pid for slot in sandbox.slots] == launchers  # none was the victim
    assert all(slot.launcher.alive for slot in sandbox.slots)


async def test_refused_allocation_memory_error_is_a_memory_limit(sandbox: Sandbox) -> None:
    result = await run(sandbox, "x = bytearray(1 << 46)")
    assert result.outcome is Outcome.MEMORY_LIMIT_EXCEEDED
    assert "MemoryError" in result.stderr


async def test_fork_bomb_is_contained(sandbox: Sandbox) -> None:
    code = """
        import os
        while True:
            try:
                os.fork()
            except OSError:
                pass
    """
    started = time.monotonic()
    result = await run(sandbox, code, max_processes=16, wall_time_ms=2000, cpu_time_ms=1000)
    elapsed = time.monotonic() - started
    assert result.outcome is Outcome.TIME_LIMIT_EXCEEDED
    assert elapsed < 30  # contained: it ends at its limits, however loaded the machine
    await sandbox.settle()
    assert _processes_of_sandbox_users(sandbox) == []


async def test_process_limit_refuses_the_extra_process(sandbox: Sandbox) -> None:
    code = """
        import os, time
        made = 0
        try:
            for _ in range(50):
                if os.fork() == 0:
                    time.sleep(3)
                    os._exit(0)
                made += 1
        except OSError as e:
            print('refused after', made, e.errno)
    """
    result = await run(sandbox, code, max_processes=8)
    assert result.outcome is Outcome.SUCCESS
    assert result.stdout.startswith("refused after 7 ")  # 8 = the program + 7 children


async def test_no_shell_to_start(sandbox: Sandbox) -> None:
    code = """
        import subprocess
        subprocess.run(['/bin/sh', '-c', 'echo escaped'])
    """
    result = await run(sandbox, code)
    assert result.outcome is Outcome.RUNTIME_ERROR
    assert "FileNotFoundError" in result.stderr
    assert "escaped" not in result.stdout


@pytest.mark.parametrize("stream", ["stdout", "stderr"])
async def test_output_flood_is_cut_at_the_cap(sandbox: Sandbox, stream: str) -> None:
    code = f"""
        import sys
        while True:
            sys.{stream}.write('x' * 4096)
    """
    result = await run(sandbox, code, output_kb=16)
    assert result.outcome is Outcome.OUTPUT_LIMIT_EXCEEDED
    assert getattr(result, stream) == "x" * 16 * 1024


async def test_output_before_a_limit_is_kept(sandbox: Sandbox) -> None:
    code = """
        print('started')
        while True:
            pass
    """
    result = await run(sandbox, code, cpu_time_ms=300)
    assert result.outcome is Outcome.TIME_LIMIT_EXCEEDED
    assert result.stdout == "started\n"


async def test_invalid_utf8_is_replaced(sandbox: Sandbox) -> None:
    code = "import sys; sys.stdout.buffer.write(b'ok \\xff\\xfe done\\n')"
    result = await run(sandbox, code)
    assert result.outcome is Outcome.SUCCESS
    assert result.stdout == "ok \ufffd\ufffd done\n"


async def test_program_that_closes_stdout(sandbox: Sandbox) -> None:
    code = """
        import os, sys
        sys.stdout.flush()
        os.close(1)
        sys.stdout = open(os.devnull, 'w')
        print('still here', file=sys.stderr)
    """
    result = await run(sandbox, code)
    assert result.outcome is Outcome.SUCCESS
    assert result.stdout == ""
    assert result.stderr == "still here\n"


async def test_stdin_is_fed_and_read_to_eof(sandbox: Sandbox) -> None:
    data = b"".join(b"%d\n" % i for i in range(200_000))
    code = """
        import sys
        numbers = [int(line) for line in sys.stdin]
        print(len(numbers), sum(numbers))
    """
    result = await run(sandbox, code, stdin=data)
    assert result.outcome is Outcome.SUCCESS
    assert result.stdout == f"200000 {sum(range(200_000))}\n"


async def test_large_stdin_with_large_output_does_not_deadlock(sandbox: Sandbox) -> None:
    data = os.urandom(512 * 1024).hex().encode()  # 1 MiB
    code = "import sys; sys.stdout.write(sys.stdin.read())"
    result = await run(sandbox, code, stdin=data, output_kb=1024)
    assert result.outcome is Outcome.SUCCESS
    assert result.stdout.encode() == data


async def test_program_that_ignores_stdin(sandbox: Sandbox) -> None:
    result = await run(sandbox, "print('not reading')", stdin=b"x" * (4 << 20))
    assert result.outcome is Outcome.SUCCESS
    assert result.stdout == "not reading\n"


async def test_connecting_to_the_hosts_redis_fails(sandbox: Sandbox) -> None:
    code = """
        import socket
        s = socket.socket()
        s.settimeout(2)
        try:
            s.connect(('127.0.0.1', 6379))
            print('connected')
        except OSError as e:
            print('refused', type(e).__name__)
    """
    result = await run(sandbox, code)
    assert result.outcome is Outcome.SUCCESS
    assert result.stdout.startswith("refused")


async def test_only_loopback_and_no_route(sandbox: Sandbox) -> None:
    code = """
        import socket
        print(sorted(name for _, name in socket.if_nameindex()))
        routes = open('/proc/net/route').read().splitlines()[1:]
        routes6 = [l for l in open('/proc/net/ipv6_route') if not l.split()[-1] == 'lo']
        print(len(routes), len(routes6))
    """
    result = await run(sandbox, code)
    assert result.outcome is Outcome.SUCCESS, result.stderr
    assert result.stdout == "['lo']\n0 0\n"


async def test_host_files_outside_the_sandbox_are_not_there(
    sandbox: Sandbox, tmp_path: object
) -> None:
    secret = f"/tmp/onpyrunner-host-secret-{os.getpid()}"
    with open(secret, "w") as f:
        f.write("host secret")
    try:
        code = f"""
            import os
            paths = [{secret!r}, '/etc/shadow', '/root', '/work', '/home']
            for path in paths + ['/proc/1/root/etc/shadow']:
                try:
                    open(path).read() if not os.path.isdir(path) else os.listdir(path)
                    print('READ', path)
                except OSError as e:
                    print('denied', path, type(e).__name__)
        """
        result = await run(sandbox, code)
    finally:
        os.unlink(secret)
    assert result.outcome is Outcome.SUCCESS, result.stderr
    assert "READ" not in result.stdout
    assert result.stdout.count("denied") == 6


async def test_only_the_working_directory_and_tmp_are_writable(sandbox: Sandbox) -> None:
    code = """
        paths = ['/.onpyrunner/in/main.py', '/new.txt', '/usr/bin/x', '/etc/passwd']
        for path in paths + ['/sandbox/main.py', '/sandbox/new.txt', '/tmp/new.txt']:
            try:
                open(path, 'a').write('x')
                print('WROTE', path)
            except OSError as e:
                print('denied', path)
    """
    result = await run(sandbox, code)
    assert result.outcome is Outcome.SUCCESS, result.stderr
    assert result.stdout.splitlines() == [
        "denied /.onpyrunner/in/main.py",  # the staged original: the copy is the program's
        "denied /new.txt",
        "denied /usr/bin/x",
        "denied /etc/passwd",
        "WROTE /sandbox/main.py",
        "WROTE /sandbox/new.txt",
        "WROTE /tmp/new.txt",
    ]


@pytest.mark.timing  # under emulation, filling the tmpfs spends the 2 s CPU limit first
async def test_the_working_directory_is_capped_in_size_and_in_files(sandbox: Sandbox) -> None:
    code = """
        import errno, os
        made = 0
        try:
            while made < 100000:
                open(f'f{made}', 'w').close()
                made += 1
        except OSError as e:
            print('files', errno.errorcode[e.errno], made)
        for name in os.listdir('.'):
            os.unlink(name)
        written = 0
        try:
            with open('big', 'wb') as f:
                while written < 1 << 30:
                    f.write(b'x' * 65536)
                    f.flush()
                    written += 65536
        except OSError as e:
            print('size', errno.errorcode[e.errno], written)
    """
    size = sandbox.runtime("python").run.policy.tmpfs_size_bytes("/sandbox")
    result = await run(sandbox, code, memory_mb=256, max_file_kb=size // 1024 + 1024)
    assert result.outcome is Outcome.SUCCESS, result.stderr
    files, space = result.stdout.splitlines()
    assert files.startswith("files ENOSPC ") and int(files.split()[2]) < 4096
    assert space.startswith("size ENOSPC ") and int(space.split()[2]) <= size


async def test_filling_tmp_hits_its_cap(sandbox: Sandbox) -> None:
    tmp_bytes = sandbox.runtime("python").run.policy.tmpfs_size_bytes("/tmp")
    code = f"""
        import errno
        written = 0
        try:
            with open('/tmp/fill', 'wb') as f:
                while written < {tmp_bytes} * 2:
                    f.write(b'x' * 65536)
                    f.flush()
                    written += 65536
        except OSError as e:
            print('full', errno.errorcode[e.errno], written)
    """
    result = await run(sandbox, code, memory_mb=256, max_file_kb=2 * tmp_bytes // 1024)
    assert result.outcome is Outcome.SUCCESS, result.stderr
    kind, written = result.stdout.split()[1:]
    assert kind == "ENOSPC"
    assert tmp_bytes - 65536 * 2 <= int(written) <= tmp_bytes


async def test_file_size_limit(sandbox: Sandbox) -> None:
    # CPython ignores SIGXFSZ, so the write fails with EFBIG instead of killing it.
    code = "open('/tmp/big', 'wb').write(b'x' * 300 * 1024)"
    result = await run(sandbox, code, max_file_kb=100)
    assert result.outcome is Outcome.RUNTIME_ERROR
    assert "File too large" in result.stderr


async def test_environment_has_no_host_secrets(sandbox: Sandbox) -> None:
    os.environ["ONPYRUNNER_TEST_SECRET"] = "s3cret-value"
    try:
        result = await run(sandbox, "import os; print(sorted(os.environ.items()))")
    finally:
        del os.environ["ONPYRUNNER_TEST_SECRET"]
    assert result.outcome is Outcome.SUCCESS
    names = {name for name, _ in eval(result.stdout)}  # the program printed a list literal
    assert "s3cret-value" not in result.stdout
    envars = sandbox.runtime("python").run.policy.message["envar"]
    assert names == {str(e).split("=")[0] for e in envars}


async def test_no_descriptor_of_the_service_is_inherited(sandbox: Sandbox) -> None:
    code = "import os; print(sorted(int(fd) for fd in os.listdir('/proc/self/fd')))"
    result = await run(sandbox, code)
    assert result.outcome is Outcome.SUCCESS
    assert result.stdout == "[0, 1, 2, 3]\n"  # 3 is listdir's own descriptor


async def test_runs_as_unprivileged_user_mapped_to_an_unprivileged_host_uid(
    sandbox: Sandbox, settings: Settings
) -> None:
    code = "import os; print(os.getuid(), os.getgid(), open('/proc/self/uid_map').read().split())"
    result = await run(sandbox, code)
    assert result.outcome is Outcome.SUCCESS
    uid, gid, mapping = result.stdout.split(" ", 2)
    assert (uid, gid) == ("1000", "1000")
    inside, outside, count = eval(mapping)
    assert inside == "1000" and count == "1"
    host_uid = int(outside)
    assert host_uid >= settings.sandbox_uid_base
    assert host_uid != 0


async def test_seccomp_refuses_what_programs_never_need(sandbox: Sandbox) -> None:
    code = """
        import ctypes, os
        libc = ctypes.CDLL(None, use_errno=True)
        for name, call in [
            ('ptrace', lambda: libc.ptrace(16, 1, 0, 0)),
            ('mount', lambda: libc.mount(b'none', b'/tmp', b'tmpfs', 0, None)),
            ('unshare', lambda: libc.unshare(0x10000000)),
            ('keyctl', lambda: libc.syscall(250, 0, 0, 0, 0, 0)),
            ('bpf', lambda: libc.syscall(321, 0, 0, 0)),
        ]:
            ctypes.set_errno(0)
            print(name, call(), ctypes.get_errno())
    """
    result = await run(sandbox, code)
    assert result.outcome is Outcome.SUCCESS, result.stderr
    for line in result.stdout.splitlines():
        name, ret, err = line.split()
        assert (ret, err) == ("-1", "1"), line


async def test_kill_pid_1_inside_is_harmless(sandbox: Sandbox) -> None:
    code = """
        import os, signal
        os.kill(1, signal.SIGKILL)
        print('alive')
    """
    result = await run(sandbox, code)
    assert result.outcome is Outcome.SUCCESS
    assert result.stdout == "alive\n"


@pytest.mark.timing  # an emulated guest on a busy host counts a Python start as seconds of CPU
async def test_killing_itself_with_sigkill_is_a_runtime_error_not_a_limit(sandbox: Sandbox) -> None:
    result = await run(sandbox, "import os; os.kill(os.getpid(), 9)")
    assert result.outcome is Outcome.RUNTIME_ERROR
    assert result.signal == signal.SIGKILL


async def test_ctypes_segfault_is_a_runtime_error_with_signal_11(sandbox: Sandbox) -> None:
    result = await run(sandbox, "import ctypes; ctypes.string_at(0)")
    assert result.outcome is Outcome.RUNTIME_ERROR
    assert result.signal == signal.SIGSEGV
    assert result.exit_code is None


async def test_no_process_is_left_on_the_host(sandbox: Sandbox) -> None:
    code = """
        import os, time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                time.sleep(60)
            os._exit(0)
        print('parent leaves')
    """
    result = await run(sandbox, code)
    assert result.outcome is Outcome.SUCCESS
    await sandbox.settle()
    assert _processes_of_sandbox_users(sandbox) == []
    # the launcher and a ready sandbox (nsjail + its init), with the warm interpreter of
    # whichever language the slot ran last (and, with the fork server, the server: the same
    # interpreter)
    warm = {Path(r.run.warm_argv[0]).name for r in sandbox.runtimes.values() if r.run.warm_argv}
    forked = {
        Path(r.run.server_argv[0]).name for r in sandbox.runtimes.values() if r.run.server_argv
    }
    for slot in sandbox.slots:
        names = sorted(
            Path(f"/proc/{pid}/comm").read_text().strip()
            for pid in slot.cgroup.procs()
            if pid != slot.launcher.pid
        )
        assert names in (
            [],
            ["init", "nsjail"],
            *(sorted(["init", "nsjail", w]) for w in warm),
            *(sorted(["init", "nsjail", f, f]) for f in forked),
        )


async def test_program_files_and_stdin_are_removed_after_the_run(sandbox: Sandbox) -> None:
    await run(sandbox, "print(input())", stdin=b"secret input\n")
    for slot in sandbox.slots:
        assert os.listdir(slot.workspace.path) == ["box"]
        assert os.listdir(slot.workspace.box) == []


@pytest.mark.timing  # under emulation a Python start alone nears the 300 ms CPU limit
async def test_twenty_concurrent_runs_are_each_classified(sandbox: Sandbox) -> None:
    programs = []
    for i in range(20):
        kind = i % 4
        if kind == 0:
            programs.append((f"print({i} * 2)", Outcome.SUCCESS, f"{i * 2}\n"))
        elif kind == 1:
            programs.append(
                (f"import sys; print({i}); sys.exit(2)", Outcome.RUNTIME_ERROR, f"{i}\n")
            )
        elif kind == 2:
            programs.append(
                (f"print({i})\nwhile True: pass", Outcome.TIME_LIMIT_EXCEEDED, f"{i}\n")
            )
        else:
            programs.append(("print(input()[::-1])", Outcome.SUCCESS, f"{str(i)[::-1]}cba\n"))
    results = await asyncio.gather(
        *(
            run(sandbox, code, stdin=f"abc{i}\n".encode(), cpu_time_ms=300)
            for i, (code, _, _) in enumerate(programs)
        )
    )
    for (code, outcome, stdout), result in zip(programs, results, strict=True):
        assert result.outcome is outcome, code
        assert result.stdout == stdout, code


def _processes_of_sandbox_users(sandbox: Sandbox) -> list[int]:
    """Host pids owned by a slot's sandbox uid, but for the inits of ready sandboxes.

    A ready sandbox's init waits at its gate with no child, or (warm start) with one: the
    phase's warm interpreter, which has no child; anything else is a leftover. With the
    fork server (setting fork_server), the server, whose one child is that init, is the
    slot's too, and the warm interpreter has the server's command line.
    """
    uids = {slot.host_id for slot in sandbox.slots}
    phases = phases_of(sandbox.runtimes)
    warm = {
        b"\0".join(arg.encode() for arg in argv) + b"\0"
        for phase in phases
        for argv in (phase.warm_argv, phase.server_argv)
        if argv
    }
    servers = {b"\0".join(arg.encode() for arg in p.server_argv) + b"\0" for p in phases}
    argv: dict[int, bytes] = {}
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.stat(f"/proc/{entry}").st_uid not in uids:
                continue
            argv[int(entry)] = Path(f"/proc/{entry}/cmdline").read_bytes()
            listed = Path(f"/proc/{entry}/task/{entry}/children").read_text().split()
            children[int(entry)] = [int(kid) for kid in listed]
        except FileNotFoundError:
            continue
    waiting: set[int] = set()
    for pid, cmdline in argv.items():
        if cmdline.split(b"\0")[0] != INIT_PATH.encode():
            continue
        kids = children[pid]
        if not kids:
            waiting.add(pid)
        elif len(kids) == 1 and argv.get(kids[0]) in warm and not children.get(kids[0]):
            waiting |= {pid, kids[0]}
    for pid, cmdline in argv.items():  # a fork server and the init it cloned
        kids = children[pid]
        if cmdline in servers and len(kids) == 1 and kids[0] in waiting:
            waiting.add(pid)
    return sorted(set(argv) - waiting)


@pytest.mark.timing  # many runs: longer than the test timeout under emulation
async def test_runs_that_end_as_they_are_stopped_never_fail_the_next_run(
    settings: Settings,
) -> None:
    # A program that passes the output cap and exits as soon as its pipe breaks races the
    # host's "kill" against the init's report. Once, a word meant for one sandbox reached
    # the next one's init: about one run in sixty then failed with "the sandbox could not
    # start /usr/bin/python3: Invalid argument" (or a "ready" was missed: a 10 s start
    # time-out). Four slots at once, each run followed by a hello world in the same slot.
    flood = """
        import os
        try:
            while True:
                os.write(1, b'x' * 4096)
        except BrokenPipeError:
            os._exit(0)
    """
    pool = await Sandbox.start(settings.model_copy(update={"concurrency": 4}), slots=4)

    async def lane(lane_id: int) -> None:
        for i in range(60):
            flooded = await run(pool, flood, output_kb=16)
            assert flooded.outcome is Outcome.OUTPUT_LIMIT_EXCEEDED, (lane_id, i, flooded)
            hello = await run(pool, f"print({i})")
            assert (hello.outcome, hello.stdout) == (Outcome.SUCCESS, f"{i}\n"), (i, hello)

    try:
        await asyncio.gather(*(lane(n) for n in range(4)))
        assert pool.rebuilds == {}
    finally:
        await pool.close()


SELF_SIGNALS = [
    getattr(signal, f"SIG{name}")
    for name in "SEGV ABRT FPE BUS ILL KILL TERM XCPU XFSZ USR1 ALRM HUP QUIT TRAP SYS".split()
]


@pytest.mark.parametrize("sig", SELF_SIGNALS, ids=lambda s: signal.Signals(s).name)
async def test_a_signal_sent_to_itself_is_a_runtime_error_with_that_signal(
    sandbox: Sandbox, sig: int
) -> None:
    # Far below every limit: no evidence blames a limit, whatever the signal's name says.
    code = f"""
        import os, signal
        if {sig} != signal.SIGKILL:
            signal.signal({sig}, signal.SIG_DFL)
        os.kill(os.getpid(), {sig})
    """
    result = await run(sandbox, code, cpu_time_ms=2000)
    assert (result.outcome, result.signal) == (Outcome.RUNTIME_ERROR, sig), result


C_WRITE_FILE = """
#include <signal.h>
#include <stdio.h>
#include <string.h>
int main(void) {
    static char block[4096];
    memset(block, 'x', sizeof block);
    FILE *f = fopen("/tmp/big", "wb");
    if (SELF) raise(SIGXFSZ);
    for (int i = 0; i < 100; i++) fwrite(block, 1, sizeof block, f), fflush(f);
    puts("wrote it all");
    return 0;
}
"""


@pytest.mark.parametrize(
    ("self_sent", "outcome"),
    [(False, Outcome.OUTPUT_LIMIT_EXCEEDED), (True, Outcome.RUNTIME_ERROR)],
    ids=["file-at-the-limit", "self-sent"],
)
async def test_sigxfsz_is_the_file_size_limit_only_with_a_file_at_that_size(
    sandbox: Sandbox, self_sent: bool, outcome: Outcome
) -> None:
    need(sandbox, "c")
    code = C_WRITE_FILE.replace("SELF", "1" if self_sent else "0")
    result = await run(sandbox, code, language="c", max_file_kb=100)
    assert (result.outcome, result.signal) == (outcome, signal.SIGXFSZ), result


async def test_a_c_program_writing_to_a_closed_pipe_dies_of_sigpipe_as_on_a_bare_machine(
    sandbox: Sandbox,
) -> None:
    # The service's Python ignores SIGPIPE; an ignored signal survives exec, so the
    # sandbox must give the program every signal's default disposition back.
    need(sandbox, "c")
    code = "#include <unistd.h>\nint main(void) { int p[2]; pipe(p); close(p[0]); "
    code += 'write(p[1], "x", 1); return 0; }\n'
    result = await run(sandbox, code, language="c")
    assert (result.outcome, result.signal) == (Outcome.RUNTIME_ERROR, signal.SIGPIPE), result


# --- what a run may carry: files, arguments, files back, live input and output -----------


async def test_a_runs_files_and_arguments_are_in_its_working_directory(sandbox: Sandbox) -> None:
    code = """
        import os, sys
        print(sys.argv[1:])
        print(open('data/in.txt').read(), open('notes.md').read())
        os.makedirs('out/deep')
        open('out/deep/result.txt', 'w').write('42')
        open('data/in.txt', 'a').write(' more')  # its copy: the program's own
        os.symlink('/etc/passwd', 'stolen')
        os.mkfifo('pipe')
        open('big.bin', 'wb').write(b'x' * 5000)
    """
    files = {"data/in.txt": b"input", "notes.md": b"# notes"}
    fetch = ("out/deep/result.txt", "data/in.txt", "stolen", "pipe", "big.bin", "missing")
    options = RunOptions(
        files=files, args=("--fast", "two words"), fetch=fetch, fetch_max_bytes=4096
    )
    result = await sandbox.run("python", textwrap.dedent(code).encode(), options=options)
    assert result.outcome is Outcome.SUCCESS, result.stderr
    assert result.stdout == "['--fast', 'two words']\ninput # notes\n"
    assert result.files == {
        "out/deep/result.txt": base64.b64encode(b"42").decode(),
        "data/in.txt": base64.b64encode(b"input more").decode(),
    }


async def test_a_run_path_that_is_not_plain_and_relative_is_refused(sandbox: Sandbox) -> None:
    with pytest.raises(ValueError):
        await sandbox.run("python", b"print(1)", options=RunOptions(fetch=("../etc/passwd",)))
    with pytest.raises(ValueError):
        await sandbox.run("python", b"print(1)", options=RunOptions(files={"/x": b""}))


async def test_a_live_run_reads_stdin_as_it_comes_and_its_output_streams(
    sandbox: Sandbox,
) -> None:
    chunks: list[tuple[str, bytes]] = []
    got_line = asyncio.Event()

    def on_output(stream: str, data: bytes) -> None:
        chunks.append((stream, data))
        if b"hello, Ada" in b"".join(d for s, d in chunks if s == "stdout"):
            got_line.set()

    live = Live(on_output)
    code = (
        "import sys\nname = input('name? ')\nprint('hello,', name)\n"
        "print(input(), file=sys.stderr)\n"
    )
    running = asyncio.create_task(
        sandbox.run("python", code.encode(), options=RunOptions(live=live))
    )
    assert await live.write(b"Ada\n")
    await asyncio.wait_for(got_line.wait(), 10)  # the greeting, before the run ends
    assert not running.done()
    assert await live.write(b"bye\n")
    live.close_stdin()
    result = await asyncio.wait_for(running, 10)
    assert result.outcome is Outcome.SUCCESS, result
    assert result.stdout == "name? hello, Ada\n" and result.stderr == "bye\n"
    assert b"".join(d for s, d in chunks if s == "stdout") == result.stdout.encode()
    assert not await live.write(b"too late\n")


async def test_a_live_run_that_waits_for_input_ends_at_its_wall_limit(sandbox: Sandbox) -> None:
    live = Live()
    result = await run_live(sandbox, "input()", live, wall_time_ms=500)
    assert result.outcome is Outcome.TIME_LIMIT_EXCEEDED
    assert result.usage.cpu_time_ms < 500


async def test_a_signal_reaches_the_program(sandbox: Sandbox) -> None:
    ready = asyncio.Event()
    said = bytearray()

    def heard(stream: str, data: bytes) -> None:
        said.extend(data)
        if said == b"ready\n":  # the whole line: `print` writes its text and its end apart
            ready.set()

    live = Live(heard)
    code = """
        import sys, time
        try:
            sys.stdout.write('ready\\n')
            time.sleep(30)
        except KeyboardInterrupt:
            print('interrupted')
    """
    running = asyncio.create_task(run_live(sandbox, code, live, wall_time_ms=20000))
    await asyncio.wait_for(ready.wait(), 10)  # its handler is in place: it said so
    assert live.signal(signal.SIGINT)
    result = await asyncio.wait_for(running, 10)
    assert (result.outcome, result.stdout) == (Outcome.SUCCESS, "ready\ninterrupted\n"), result


async def test_a_program_that_never_reads_cannot_make_the_host_hold_its_input(
    sandbox: Sandbox,
) -> None:
    live = Live()
    running = asyncio.create_task(run_live(sandbox, "import time; time.sleep(3)", live))
    sent = 0
    while True:  # the pipe fills, then a write waits until the run ends
        if not await live.write(b"x" * 65536):
            break
        sent += 1
    assert sent < 64  # about the pipe's and the transport's buffers, not 4 MiB
    assert (await running).outcome is Outcome.SUCCESS


async def test_compiler_options_reach_the_compiler_and_the_cache_keeps_them_apart(
    sandbox: Sandbox,
) -> None:
    need(sandbox, "c")
    code = b'#include <stdio.h>\nint main(void) { printf("%d\\n", VALUE); }\n'
    one = await sandbox.run("c", code, compile_options=("-DVALUE=1",))
    two = await sandbox.run("c", code, compile_options=("-DVALUE=2",))
    assert (one.stdout, two.stdout) == ("1\n", "2\n")


async def run_live(sandbox: Sandbox, code: str, live: Live, **limits: int) -> RunResult:
    base = sandbox.limits.defaults.model_dump()
    base.update(limits)
    source = textwrap.dedent(code).encode()
    return await sandbox.run("python", source, limits=Limits(**base), options=RunOptions(live=live))


async def test_a_live_run_tried_again_in_a_fresh_sandbox_keeps_its_input(
    settings: Settings,
) -> None:
    # The ready sandbox dies before the run: its first try fails before the program starts,
    # and the input the caller wrote meanwhile must reach the program of the second try.
    pool = await Sandbox.start(settings, slots=1)
    try:
        await pool.settle()
        pool.slots[0].kill()
        live = Live()
        running = asyncio.create_task(
            pool.run("python", b"print(input()[::-1])", options=RunOptions(live=live))
        )
        assert await live.write(b"abc\n")
        live.close_stdin()
        result = await asyncio.wait_for(running, 30)
        assert (result.outcome, result.stdout) == (Outcome.SUCCESS, "cba\n"), result
        assert sum(pool.rebuilds.values()) == 1, pool.rebuilds
    finally:
        await pool.close()


async def test_a_live_runs_own_stdin_goes_first_and_whole(sandbox: Sandbox) -> None:
    # More than a pipe holds (64 KiB): none of it may be lost before the live side writes.
    first = b"x" * (256 << 10) + b"\n"
    live = Live()
    code = "import sys\nprint(len(sys.stdin.readline()), sys.stdin.readline().strip())\n"
    running = asyncio.create_task(
        sandbox.run("python", code.encode(), first, options=RunOptions(live=live))
    )
    assert await live.write(b"then this\n")
    live.close_stdin()
    result = await asyncio.wait_for(running, 30)
    assert (result.outcome, result.stdout) == (Outcome.SUCCESS, f"{len(first)} then this\n")
