"""The host's side of the init protocol, with a scripted init at the other end of real
sockets (no nsjail, no root): a slot is never trusted after a surprise, and a run's
messages can only arrive on that run's own socket."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from onpyrunner.errors import SandboxError, SandboxFault
from onpyrunner.sandbox import protocol
from onpyrunner.sandbox.nsjail import CappedReader
from onpyrunner.sandbox.policy import Policy
from onpyrunner.sandbox.runtimes import Phase
from onpyrunner.sandbox.slot import Child, InitGoneError, Jail, RunChannel

PHASE = Phase("python", "run", Policy(Path("python.cfg"), {}), ("/usr/bin/python3",), ())


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    host, init = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    host.setblocking(False)
    yield host, init
    # The host's end is closed by its Jail or RunChannel (which leave the event loop's
    # selector first: a closed fd still registered there would blind the next test).
    init.close()


def jail_on(host: socket.socket) -> tuple[Jail, Child]:
    loop = asyncio.get_running_loop()
    child = Child(1, loop.create_future(), loop.create_future())
    return Jail(PHASE, child, host, CappedReader(1024)), child


async def test_a_ready_sandbox_is_claimed_once(pair: tuple[socket.socket, socket.socket]) -> None:
    host, init = pair
    jail, _ = jail_on(host)
    try:
        init.send(b"ready")
        await jail.take_ready(timeout_s=5)
        assert jail.readies == 0 and jail.usable
        with pytest.raises(SandboxFault, match="could not start the sandbox in 0 s") as caught:
            await jail.take_ready(timeout_s=0.05)
        assert caught.value.cause == "ready_timeout"
    finally:
        jail.close()


@pytest.mark.parametrize(
    ("said", "cause"),
    [
        ([b"ready", b"ready"], "extra_ready"),
        ([b"refused 22"], "refused"),
        ([b"exit 0 1 1 1 0"], "protocol"),
    ],
)
async def test_a_surprise_on_the_slot_socket_taints_the_jail(
    pair: tuple[socket.socket, socket.socket], said: list[bytes], cause: str
) -> None:
    host, init = pair
    jail, _ = jail_on(host)
    try:
        for message in said:
            init.send(message)
        with pytest.raises(SandboxFault) as caught:
            await jail.take_ready(timeout_s=5)
        assert caught.value.cause == cause
        assert not jail.usable
    finally:
        jail.close()


async def test_nsjail_gone_is_a_fault_with_its_status(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    host, _ = pair
    jail, child = jail_on(host)
    try:
        child.exited.set_result(1 << 8)  # a wait status: exited with 1
        with pytest.raises(SandboxFault, match="it exited with status 1") as caught:
            await jail.take_ready(timeout_s=5)
        assert caught.value.cause == "nsjail_exited"
    finally:
        jail.close()


async def test_a_runs_end_arrives_on_its_own_socket(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    host, init = pair
    channel = RunChannel(host)
    init.send(b"started")
    init.send(b"signal 24 1500 900 2048 0")
    status = await asyncio.wait_for(channel.status, 5)
    assert channel.started and channel.execfail is None
    assert status == protocol.Status(None, 24, 1500, 900, False)
    channel.kill()
    assert init.recv(16) == b"kill"
    channel.close()
    assert init.recv(16) == b""  # the init sees the run end


async def test_an_init_that_ends_without_a_word_is_told_apart(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    host, init = pair
    channel = RunChannel(host)
    try:
        init.send(b"execfail 2")
        init.shutdown(socket.SHUT_RDWR)
        with pytest.raises(InitGoneError):
            await asyncio.wait_for(channel.status, 5)
        assert channel.execfail == 2 and not channel.started
    finally:
        channel.close()


def test_status_messages_are_parsed_strictly() -> None:
    assert protocol.parse_status("exit 3 10 20 30 0") == protocol.Status(3, None, 10, 20)
    assert protocol.parse_status("signal 25 10 20 30 1").fsize_hit
    for text in ("exit 3 10 20", "ready", "exit x 1 1 1 0", "stop 1 1 1 1 0"):
        with pytest.raises(SandboxError):
            protocol.parse_status(text)


def test_a_go_carries_the_limits_and_an_absolute_program() -> None:
    message = protocol.go(2, 1024, 5000, ["/usr/bin/python3", "-I", "main.py"])
    assert message == b"go 2 1024 5000 3\0/usr/bin/python3\0-I\0main.py"
    linked = protocol.go(2, 1024, 5000, ["/sandbox/main"], ["main"])
    assert linked == b"go 2 1024 5000 1\0/sandbox/main\0main"
    with pytest.raises(ValueError, match="absolute"):
        protocol.go(2, 1024, 5000, ["python3"])


def test_a_ready_may_carry_a_warm_interpreter_s_memory() -> None:
    assert protocol.parse_ready("ready") == 0
    assert protocol.parse_ready("ready 3145728") == 3145728
    for text in ("ready x", "ready -1", "readyy", "ready 1 2", "started"):
        assert protocol.parse_ready(text) is None
