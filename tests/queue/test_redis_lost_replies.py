"""Redis when a reply is lost on its way: a read that Redis served but whose answer never
arrived (a dropped connection, a cancelled call) must leave what it took for the next read.
A session's commands (once a BLPOP, which took the command out of the list for good) and
the history outbox (whose entries then waited for the 10-lease takeover)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.exceptions

from onpyrunner.errors import BackendUnavailableError
from onpyrunner.queue.redis import RedisStore
from onpyrunner.queue.session import START, Command, CommandKind
from tests.queue.test_store_contract import claim, ending, open_store, submitted


@pytest.fixture
async def store() -> AsyncIterator[RedisStore]:
    async with open_store("redis") as opened:
        assert isinstance(opened, RedisStore)
        yield opened


def lose_replies(store: RedisStore, command: str, times: int, arg: str | None = None) -> list[str]:
    """Make the next `times` calls of command run on the server, then fail as a dropped
    connection would before their reply arrived. Returns the log of what was lost."""
    client = store.redis  # the client its sessions use too
    real: Any = client.execute_command
    lost: list[str] = []

    async def execute(*args: Any, **options: Any) -> Any:
        reply = await real(*args, **options)
        mine = str(args[0]).upper() == command and (arg is None or arg in map(str, args))
        if mine and len(lost) < times:
            lost.append(repr(reply))
            raise redis.exceptions.ConnectionError("connection lost (injected)")
        return reply

    client.execute_command = execute  # type: ignore[method-assign]
    return lost


async def test_a_command_whose_reply_was_lost_is_read_again(store: RedisStore) -> None:
    sessions = store.sessions
    sent = [Command(CommandKind.SIGNAL, "SIGTERM"), Command(CommandKind.STDIN, "x\n")]
    for command in sent:
        await sessions.send("j1", command)
    lost = lose_replies(store, "XREAD", 1)
    with pytest.raises(BackendUnavailableError):
        await sessions.receive("j1", START, 1.0)
    assert lost, "the injected loss never happened"
    first, cursor = await sessions.receive("j1", START, 1.0)
    second, cursor = await sessions.receive("j1", cursor, 1.0)
    assert [first, second] == sent
    assert (await sessions.receive("j1", cursor, 0.05))[0] is None


async def test_a_command_is_not_read_twice_when_its_trim_was_lost(store: RedisStore) -> None:
    sessions = store.sessions
    sent = [Command(CommandKind.STDIN, "a"), Command(CommandKind.STDIN, "b")]
    for command in sent:
        await sessions.send("j2", command)
    lose_replies(store, "XTRIM", 1)
    first, cursor = await sessions.receive("j2", START, 1.0)
    second, cursor = await sessions.receive("j2", cursor, 1.0)
    assert [first, second] == sent
    assert (await sessions.receive("j2", cursor, 0.05))[0] is None


async def test_outbox_entries_whose_reply_was_lost_come_back_to_their_reader(
    store: RedisStore,
) -> None:
    await store.open_outbox()
    job = await submitted(store)
    assert await store.finish(await claim(store), ending())
    lose_replies(store, "XREADGROUP", 1, arg=">")  # the read of new entries
    with pytest.raises(BackendUnavailableError):
        await store.ended("writer", 10, 1.0)
    again = await store.ended("writer", 10, 0.05)  # not 10 leases later: now
    assert [e.job_id for e in again] == [job.id]
    await store.recorded("writer", [e.token for e in again])
    assert await store.ended("writer", 10, 0.05) == []
