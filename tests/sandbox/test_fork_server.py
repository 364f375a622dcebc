"""The fork server (setting fork_server): what each forked run may share with the server and
with the runs before it, checked against the threat model in docs/sandbox.md. The whole
sandbox suite also runs in this mode (ONPYRUNNER_FORK_SERVER=true); these are the checks
that only mean something here: two runs of one slot, one after the other, from one server.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator

import pytest

from onpyrunner.errors import ConfigError
from onpyrunner.models import Outcome
from onpyrunner.sandbox import cgroup
from onpyrunner.sandbox.policy import FORK_SERVER_SYSCALLS, fork_server_policy, parse_textproto
from onpyrunner.sandbox.pool import Sandbox
from onpyrunner.sandbox.runtimes import discover
from onpyrunner.settings import Settings
from tests.sandbox.running import run_source
from tests.sandbox.test_warm import OBSERVE
from tests.service import uid_base
from tests.toolchains import need, unavailable

pytestmark = pytest.mark.sandbox

run = run_source


@pytest.fixture(scope="module")
async def pools() -> AsyncIterator[dict[str, Sandbox]]:
    """One pool with the fork server and one cold, one slot each: every run of a pool is
    forked by the same server, one after the other."""
    layout = cgroup.detect(None, "probe")
    if layout.version is cgroup.CgroupVersion.V2:
        unavailable("the fork server needs cgroup v1 (it refuses to start on v2: tested below)")
    fork = await Sandbox.start(Settings(sandbox_uid_base=uid_base(), fork_server=True), slots=1)
    try:
        cold = await Sandbox.start(Settings(sandbox_uid_base=uid_base(), warm_start=False), slots=1)
        try:
            yield {"fork": fork, "cold": cold}
        finally:
            await cold.close()
    finally:
        await fork.close()


def test_python_is_served_by_a_fork_server(pools: dict[str, Sandbox]) -> None:
    phase = pools["fork"].runtime("python").run
    assert phase.server_argv and phase.server_policy is not None
    assert not pools["fork"].runtime("c").run.server_argv if "c" in pools["fork"].runtimes else True


async def test_a_forked_program_sees_what_a_cold_one_sees(pools: dict[str, Sandbox]) -> None:
    seen = {}
    for name, pool in pools.items():
        result = await run(pool, OBSERVE, stdin=b"line\n")
        assert result.outcome is Outcome.SUCCESS, result.stderr
        seen[name] = json.loads(result.stdout)
    # nothing of the server (ctypes, select, fcntl, struct, _socket, gc) among the modules
    assert seen["fork"] == seen["cold"]


async def test_nothing_a_run_leaves_reaches_the_next_run(pools: dict[str, Sandbox]) -> None:
    pool = pools["fork"]
    leave = """
        import builtins, os
        for place in ('/sandbox', '/tmp', '/dev/shm'):
            with open(os.path.join(place, 'left'), 'w') as f:
                f.write('x')
        builtins.leftover = 'from the last run'
        print('left')
    """
    find = """
        import builtins, os
        print([p for p in ('/sandbox/left', '/tmp/left', '/dev/shm/left') if os.path.exists(p)],
              hasattr(builtins, 'leftover'))
    """
    assert (await run(pool, leave)).stdout == "left\n"
    assert (await run(pool, find)).stdout == "[] False\n"


async def test_a_forked_run_has_its_own_namespaces_and_no_privilege(
    pools: dict[str, Sandbox],
) -> None:
    code = """
        import ctypes, os, socket
        libc = ctypes.CDLL(None, use_errno=True)
        status = dict(line.split(':', 1) for line in open('/proc/self/status'))
        calls = {}
        for name, call in [
            ('unshare', lambda: libc.unshare(0x20000)),
            ('mount', lambda: libc.mount(b'none', b'/tmp', b'tmpfs', 0, None)),
            ('setns', lambda: libc.setns(0, 0)),
            ('clone-newuser', lambda: libc.syscall(56, 0x10000000 | 17, 0, 0, 0, 0)),
        ]:
            ctypes.set_errno(0)
            calls[name] = (call(), ctypes.get_errno())
        with socket.socket() as s:
            s.bind(('127.0.0.1', 0))
        print(sorted(p for p in os.listdir('/proc') if p.isdigit()), os.getpid(), os.getppid())
        print([status[k].strip() for k in ('CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb')])
        print(status['NoNewPrivs'].strip(), calls)
        print(socket.if_nameindex(), socket.gethostname(), sorted(os.listdir('/proc/self/fd')))
    """
    result = await run(pools["fork"], code)
    assert result.outcome is Outcome.SUCCESS, result.stderr
    procs, caps, privs, net = result.stdout.splitlines()
    assert procs == "['1', '2'] 2 1"  # a pid namespace of its own: its init and itself
    assert caps == str(["0000000000000000"] * 5)
    eperm = (-1, 1)
    assert privs == "1 " + str(
        {"unshare": eperm, "mount": eperm, "setns": eperm, "clone-newuser": eperm}
    )
    assert net == "[(1, 'lo')] sandbox ['0', '1', '2', '3']"  # 3: the listing's own


async def test_random_generators_differ_from_run_to_run(pools: dict[str, Sandbox]) -> None:
    pool = pools["fork"]
    code = "import random\nprint(random.random())\n"
    draws = {(await run(pool, code)).stdout for _ in range(3)}
    assert len(draws) == 3
    if "python-sci" in pool.runtimes:  # numpy is imported by its server
        code = "import numpy\nprint(numpy.random.random())\n"
        draws = {(await run(pool, code, language="python-sci")).stdout for _ in range(3)}
        assert len(draws) == 3


async def test_a_run_that_kills_everything_it_can_leaves_the_server_serving(
    pools: dict[str, Sandbox],
) -> None:
    pool = pools["fork"]
    # kill(-1) reaches every process the caller may signal but itself and its pid
    # namespace's init: here, none (the server is in no namespace the run can see)
    code = """
        import os, signal
        try:
            os.kill(-1, signal.SIGKILL)
            print('killed some')
        except ProcessLookupError:
            print('none to kill')
    """
    assert (await run(pool, code)).stdout == "none to kill\n"
    assert (await run(pool, "print('next')")).stdout == "next\n"
    assert pool.rebuilds == {}


async def test_limits_hold_in_a_forked_run(pools: dict[str, Sandbox]) -> None:
    pool = pools["fork"]
    memory = await run(pool, "x = bytearray(200 << 20)\nprint(len(x))", memory_mb=64)
    assert memory.outcome is Outcome.MEMORY_LIMIT_EXCEEDED
    cpu = await run(pool, "while True: pass", cpu_time_ms=300, wall_time_ms=10_000)
    assert cpu.outcome is Outcome.TIME_LIMIT_EXCEEDED
    bomb = """
        import os
        n = 0
        try:
            while True:
                if os.fork() == 0:
                    import time; time.sleep(30)
                n += 1
        except OSError:
            print(n)
    """
    forks = await run(pool, bomb, max_processes=8, wall_time_ms=10_000)
    assert forks.outcome is Outcome.SUCCESS, forks.stderr
    assert int(forks.stdout) == 7  # itself and seven: the server is not counted
    assert (await run(pool, "print('after')")).stdout == "after\n"


async def test_numpy_runs_forked(pools: dict[str, Sandbox]) -> None:
    need(pools["fork"], "python-sci")
    code = "import numpy as np\nprint(int(np.arange(10).sum()), np.__name__)\n"
    result = await run(pools["fork"], code, language="python-sci")
    assert (result.outcome, result.stdout) == (Outcome.SUCCESS, "45 numpy\n"), result.stderr


def test_the_server_s_policy_is_the_run_s_but_for_its_own_syscalls(
    pools: dict[str, Sandbox],
) -> None:
    phase = pools["fork"].runtime("python").run
    assert phase.server_policy is not None
    run_text = phase.policy.path.read_text()
    server_text = phase.server_policy.path.read_text()
    assert run_text != server_text
    run_msg, server_msg = parse_textproto(run_text), parse_textproto(server_text)
    for key in set(run_msg) | set(server_msg):
        if key not in ("seccomp_string", "mount"):
            assert run_msg.get(key) == server_msg.get(key), key
    policy_words = " ".join(str(s) for s in run_msg["seccomp_string"])
    server_words = " ".join(str(s) for s in server_msg["seccomp_string"])
    for syscall in FORK_SERVER_SYSCALLS:
        assert f" {syscall}," in f" {policy_words}" and f" {syscall}," not in f" {server_words}"
    clone_rule = " clone { (clone_flags & 0x7e020000) != 0 },"
    assert clone_rule in policy_words and "clone {" not in server_words
    expected = policy_words.replace(" mount,", "").replace(" unshare,", "")
    assert expected.replace(clone_rule, "").split() == server_words.split()
    # and each child denies the same again: these syscalls, and clone with those flags
    assert phase.server_argv[phase.server_argv.index("--serve") + 3] == (
        "mount,unshare,clone&0x7e020000"
    )


def test_a_run_policy_without_the_denials_is_refused(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    from onpyrunner.sandbox.policy import Policy

    path = tmp_path_factory.mktemp("policy") / "odd.cfg"
    path.write_text('seccomp_string: "ERRNO(1) { ptrace }"\nseccomp_string: "DEFAULT ALLOW"\n')
    policy = Policy(path=path, message=parse_textproto(path.read_text()))
    with pytest.raises(ConfigError, match="has no one clone rule"):
        fork_server_policy(policy, "odd.server")


async def test_the_fork_server_refuses_cgroup_v2(monkeypatch: pytest.MonkeyPatch) -> None:
    # On v2 a run's cgroup would not hold the forked interpreter: the service says so at
    # start-up rather than measure runs wrongly.
    def v2(parent: str | None, name: str) -> cgroup.CgroupLayout:
        return cgroup.CgroupLayout(cgroup.CgroupVersion.V2, {"": cgroup.CGROUP_ROOT / name})

    monkeypatch.setattr(cgroup, "detect", v2)
    with pytest.raises(ConfigError, match="fork_server needs cgroup v1"):
        await Sandbox.start(Settings(sandbox_uid_base=uid_base(), fork_server=True), slots=1)


def test_a_profile_with_several_blas_threads_keeps_warm_start(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    # One run at a time on this machine's cores gives python-sci more than one BLAS thread
    # (runtimes.py's THREADS): its server would hold threads, which a fork does not take
    # along, so it is not served by a fork server; python (no pre-imports) still is.
    cores = len(os.sched_getaffinity(0))
    if cores < 2:
        unavailable("needs two cores for two BLAS threads per run")
    settings = Settings(fork_server=True, concurrency=1)
    runtimes = discover(settings, tmp_path_factory.mktemp("policies"))
    assert runtimes["python"].run.server_argv
    if "python-sci" in runtimes:
        assert runtimes["python-sci"].run.warm_argv
        assert not runtimes["python-sci"].run.server_argv
    one_each = discover(
        settings.model_copy(update={"concurrency": cores}), tmp_path_factory.mktemp("p")
    )
    if "python-sci" in one_each:
        assert one_each["python-sci"].run.server_argv
