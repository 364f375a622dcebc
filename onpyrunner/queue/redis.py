"""The Redis backend: API replicas and workers on many machines share one Redis.

Jobs wait in one stream per language, each read by the consumer group "workers": a worker
reads the streams of the languages it has, so a job only ever goes to a worker that can
run it. A delivered entry stays in the group's pending list until the worker that runs
the job acknowledges it, and a worker keeps its entries' idle time low by heartbeating.
An entry idle for `lease_s` belongs to a dead worker: XAUTOCLAIM hands it to another.
Every change of a job is one Lua script, so the job's hash, the stream and the
announcement move together. JSON on the wire.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Any, cast

import redis.asyncio as aioredis
import redis.exceptions
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

from onpyrunner.aio import stop
from onpyrunner.errors import (
    BackendUnavailableError,
    JobFinishedError,
    JobNotFoundError,
    QueueFullError,
    UnknownLanguageError,
)
from onpyrunner.languages.catalogue import shipped_ids
from onpyrunner.limits import Limits
from onpyrunner.models import (
    NATIVE,
    InputFacts,
    Job,
    JobRequest,
    JobStatus,
    JudgeResult,
    Origin,
    Progress,
    RunResult,
    Timestamps,
)
from onpyrunner.queue.keys import Keys
from onpyrunner.queue.session import (
    LOG_TTL_S,
    MAX_PENDING_INPUTS,
    PRESENCE_TTL_S,
    START,
    Command,
    Output,
    Sessions,
)
from onpyrunner.queue.store import (
    BATCH_TURN,
    TOO_MANY_DELIVERIES,
    Backlog,
    Claim,
    Ended,
    Ending,
    JobStore,
    LanguageInfo,
    QueueStats,
    Watch,
    Watchers,
    claim_order,
    queue_of,
    utcnow,
)
from onpyrunner.settings import Settings

log = logging.getLogger(__name__)

_STAMPS = ("received_at", "picked_up_at", "started_at", "finished_at", "stored_at")
_RECONNECT_MAX_S = 5.0

# Every script that ends a job puts it on the history's outbox in the same step: KEYS
# history and dropped, the job's id, and the outbox's bound. Nothing while the outbox does
# not exist (no API process keeps a history).
_ENDED = """
local function ended(history, dropped, id, bound)
  if redis.call('EXISTS', history) == 0 then return end
  redis.call('XADD', history, '*', 'id', id)
  if redis.call('XLEN', history) > tonumber(bound) then
    redis.call('INCRBY', dropped, redis.call('XTRIM', history, 'MAXLEN', bound))
  end
end
"""

# KEYS: every language's stream (L of them), then one job key per new job.
# ARGV: L, max_pending, ttl_ms, N, then per job: its stream's index among KEYS, its id, and
# its fields as one JSON object of strings (one argument, not two per field: packing
# arguments is the costly part of a command on the client). All or nothing.
_SUBMIT = """
local streams = tonumber(ARGV[1])
local unfinished = 0
for i = 1, streams do unfinished = unfinished + redis.call('XLEN', KEYS[i]) end
local count = tonumber(ARGV[4])
if unfinished + count > tonumber(ARGV[2]) then return 0 end
for j = 0, count - 1 do
  local at = 5 + j * 3
  local job = KEYS[streams + 1 + j]
  local fields = {}
  for field, value in pairs(cjson.decode(ARGV[at + 2])) do
    fields[#fields + 1] = field
    fields[#fields + 1] = value
  end
  redis.call('HSET', job, unpack(fields))
  redis.call('PEXPIRE', job, ARGV[3])
  redis.call('XADD', KEYS[tonumber(ARGV[at])], '*', 'id', ARGV[at + 1])
end
return 1
"""

# KEYS: job, stream, events, history, dropped.  ARGV: entry id, worker, now, max deliveries,
# ttl_ms, group, reason format, job id, outbox bound.
# Returns {'run', request, attempts, received_at} or {'gone'}.
_START = (
    _ENDED
    + """
local function settle()
  redis.call('XACK', KEYS[2], ARGV[6], ARGV[1])
  redis.call('XDEL', KEYS[2], ARGV[1])
end
local cur = redis.call('HMGET', KEYS[1], 'status', 'attempts', 'request', 'received_at')
local status = cur[1]
if not status or not cur[3] or status == 'COMPLETED' or status == 'FAILED'
   or status == 'CANCELLED' then
  settle()
  return {'gone'}
end
local attempts = tonumber(cur[2] or '0') + 1
if attempts > tonumber(ARGV[4]) then
  redis.call('HSET', KEYS[1], 'status', 'FAILED', 'stored_at', ARGV[3],
             'error', string.format(ARGV[7], attempts - 1))
  redis.call('HDEL', KEYS[1], 'request')
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
  settle()
  redis.call('PUBLISH', KEYS[3], 'FAILED')
  ended(KEYS[4], KEYS[5], ARGV[8], ARGV[9])
  return {'gone'}
end
redis.call('HSET', KEYS[1], 'status', 'RUNNING', 'attempts', attempts, 'worker', ARGV[2],
           'picked_up_at', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('PUBLISH', KEYS[3], 'RUNNING')
return {'run', cur[3], attempts, cur[4]}
"""
)

# KEYS: job, stream, events, history, dropped.  ARGV: entry id, worker, group, ttl_ms,
# status, job id, outbox bound, field, value, ...  Returns 1 when stored, 0 when the claim
# is no longer this worker's.
_FINISH = (
    _ENDED
    + """
local cur = redis.call('HMGET', KEYS[1], 'status', 'worker')
if cur[2] ~= ARGV[2] then return 0 end
redis.call('XACK', KEYS[2], ARGV[3], ARGV[1])
redis.call('XDEL', KEYS[2], ARGV[1])
if cur[1] ~= 'RUNNING' then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[5], unpack(ARGV, 8))
redis.call('HDEL', KEYS[1], 'request')
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PUBLISH', KEYS[3], ARGV[5])
ended(KEYS[4], KEYS[5], ARGV[6], ARGV[7])
return 1
"""
)

# KEYS: job, events.  ARGV: worker, ttl_ms, announce (0/1), field, value, ...
_UPDATE_RUNNING = """
local cur = redis.call('HMGET', KEYS[1], 'status', 'worker')
if cur[1] ~= 'RUNNING' or cur[2] ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
if ARGV[3] == '1' then redis.call('PUBLISH', KEYS[2], 'RUNNING') end
return 1
"""

# KEYS: job, events, control, history, dropped.  ARGV: now, ttl_ms, job id, outbox bound,
# reason ('' for none).
_CANCEL = (
    _ENDED
    + """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {'missing'} end
if status == 'COMPLETED' or status == 'FAILED' or status == 'CANCELLED' then
  return {'finished', status}
end
redis.call('HSET', KEYS[1], 'status', 'CANCELLED', 'finished_at', ARGV[1])
if ARGV[5] ~= '' then redis.call('HSET', KEYS[1], 'error', ARGV[5]) end
redis.call('HDEL', KEYS[1], 'request')
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('PUBLISH', KEYS[2], 'CANCELLED')
if status == 'RUNNING' then redis.call('PUBLISH', KEYS[3], 'cancel ' .. ARGV[3]) end
ended(KEYS[4], KEYS[5], ARGV[3], ARGV[4])
return {'ok'}
"""
)

# KEYS: job, events.  Removes a finished job; 1 when removed.
_DELETE = """
local status = redis.call('HGET', KEYS[1], 'status')
if status ~= 'COMPLETED' and status ~= 'FAILED' and status ~= 'CANCELLED' then return 0 end
redis.call('DEL', KEYS[1])
redis.call('PUBLISH', KEYS[2], 'DELETED')
return 1
"""

# KEYS: workers, then per claim its stream and its job.  ARGV: group, worker, now, then
# per claim its entry id. Keeps the worker alive and resets the idle time of the entries
# it still owns.
_HEARTBEAT = """
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2])
local mine = 0
for k = 1, (#KEYS - 1) / 2 do
  if redis.call('HGET', KEYS[2 * k + 1], 'worker') == ARGV[2] then
    redis.call('XCLAIM', KEYS[2 * k], ARGV[1], ARGV[2], 0, ARGV[3 + k])
    mine = mine + 1
  end
end
return mine
"""


# KEYS: a session's input list.  ARGV: most waiting, ttl_ms, the command.  1 when queued,
# 0 when the list is full.
_SESSION_SEND = """
if redis.call('XLEN', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('XADD', KEYS[1], '*', 'c', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""

#: How long a sender waits at most between two looks at a full input list.
_SEND_BACKOFF_MAX_S = 0.05
#: The longest blocking read of a session (the client's socket timeout is 5 s).
_SESSION_BLOCK_MAX_S = 4.0


@contextlib.contextmanager
def _translate() -> Iterator[None]:
    """Redis being down is BackendUnavailableError, everywhere in this module.

    A cancellation that redis-py turned into a timeout or connection error (it can, when
    the cancel lands inside its own timeout block) is a cancellation again.
    """
    try:
        yield
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError) as e:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise asyncio.CancelledError from e
        raise BackendUnavailableError(f"Redis is unavailable: {e}") from e


def _epoch(at: datetime) -> str:
    return repr(at.timestamp())


def _when(raw: str | None) -> datetime | None:
    return datetime.fromtimestamp(float(raw), UTC) if raw else None


def _job_from_hash(fields: dict[str, str]) -> Job:
    result: RunResult | JudgeResult | None = None
    if fields.get("result"):
        data = json.loads(fields["result"])
        result = (
            JudgeResult.model_validate(data)
            if "verdict" in data
            else (RunResult.model_validate(data))
        )
    stamps = {name: _when(fields.get(name)) for name in _STAMPS}
    return Job(
        id=fields["id"],
        status=JobStatus(fields["status"]),
        language=fields["language"],
        limits=Limits.model_validate_json(fields["limits"]),
        judge=fields.get("judge") == "1",
        interactive=fields.get("interactive") == "1",
        stream=fields.get("stream") == "1",
        timestamps=Timestamps.model_validate(stamps),
        result=result,
        error=fields.get("error") or None,
        attempts=int(fields.get("attempts") or 0),
        progress=Progress.model_validate_json(fields["progress"])
        if fields.get("progress")
        else None,
        origin=Origin.model_validate_json(fields["origin"]) if fields.get("origin") else NATIVE,
        worker=fields.get("worker") or None,
        input=InputFacts.model_validate_json(fields["input"]) if fields.get("input") else None,
    )


class _CancelSafeSend:
    """A connection whose sends keep their cancellations. redis-py sends a command through
    `asyncio.wait_for` (bounded by the socket timeout), and on Python 3.11 wait_for swallows
    a cancellation that lands as the send ends: the cancelled task goes on (measured: a
    third of the cancels of a task looping on a small command were lost). Here the send
    is bounded by `asyncio.timeout`, which keeps them; redis-py sees no socket timeout
    while it sends, so it does not wrap the send itself. Reads are unchanged."""

    socket_timeout: float | None

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        bound, self.socket_timeout = self.socket_timeout, None
        deadline = asyncio.timeout(bound or None)
        try:
            async with deadline:
                await super().send_packed_command(command, check_health)  # type: ignore[misc]
        except TimeoutError as e:  # asyncio's: only this deadline's, never a cancellation
            if not deadline.expired():
                raise
            raise redis.exceptions.TimeoutError("Timeout writing to socket") from e
        finally:
            self.socket_timeout = bound


def _cancel_safe(pool: aioredis.ConnectionPool) -> aioredis.ConnectionPool:
    """pool, making its connections (of the class its URL chose) keep cancellations."""
    base = pool.connection_class
    pool.connection_class = type(f"CancelSafe{base.__name__}", (_CancelSafeSend, base), {})
    return pool


class RedisStore(JobStore):
    """Jobs in Redis, under settings.redis_prefix."""

    def __init__(
        self, settings: Settings, url: str, languages: frozenset[str] | None = None
    ) -> None:
        """A store on the Redis at url; `languages` are those it queues (default: the
        catalogue's)."""
        languages = languages if languages is not None else shipped_ids()
        self.settings = settings
        self.keys = Keys(settings.redis_prefix)
        # A pooled connection that went stale (Redis restarted) is retried at once on a new
        # one; Redis really down still fails fast (two quick retries), as a 503.
        pool = aioredis.ConnectionPool.from_url(
            url,
            decode_responses=True,
            socket_connect_timeout=2,
            socket_timeout=5,
            health_check_interval=10,
            retry=Retry(ExponentialBackoff(cap=0.2, base=0.02), 2),
            retry_on_error=[redis.exceptions.ConnectionError, redis.exceptions.TimeoutError],
        )
        self.redis: aioredis.Redis = aioredis.Redis.from_pool(_cancel_safe(pool))
        self._submit = self.redis.register_script(_SUBMIT)
        self._start = self.redis.register_script(_START)
        self._finish = self.redis.register_script(_FINISH)
        self._update = self.redis.register_script(_UPDATE_RUNNING)
        self._cancel = self.redis.register_script(_CANCEL)
        self._delete = self.redis.register_script(_DELETE)
        self._heartbeat = self.redis.register_script(_HEARTBEAT)
        self._ttl_ms = int(settings.job_ttl_s * 1000)
        self.sessions = RedisSessions(self.redis, self.keys, self._ttl_ms)
        self._watchers = Watchers()
        self._listener: asyncio.Task[None] | None = None
        self._group_ready = False
        self._last_reclaim = 0.0
        #: Every language's stream; the index of each among the submit script's keys.
        #: Every queue's stream (each language's, and its batch lane's, see store.queue_of).
        queues = claim_order(languages, batch_first=False)
        self._streams = {queue: self.keys.stream(queue) for queue in queues}
        self._stream_index = {queue: i for i, queue in enumerate(self._streams, 1)}
        self._languages = sorted(languages)
        self._claims = 0
        #: The history outbox's keys, as the scripts that end a job take them.
        self._outbox = [self.keys.history, self.keys.history_dropped]
        self._last_outbox_reclaim = 0.0

    # --- life ------------------------------------------------------------------------
    async def open(self) -> None:
        self._listener = asyncio.create_task(self._listen())
        with contextlib.suppress(BackendUnavailableError):
            await self._ensure_group()

    async def close(self) -> None:
        if self._listener is not None:
            await stop([self._listener])
        await self.redis.aclose()

    async def _ensure_group(self) -> None:
        if self._group_ready:
            return
        with _translate():
            for stream in self._streams.values():
                try:
                    await self.redis.xgroup_create(stream, Keys.GROUP, id="0", mkstream=True)
                except redis.exceptions.ResponseError as e:
                    if "BUSYGROUP" not in str(e):
                        raise
        self._group_ready = True

    async def _regroup_on(self, e: redis.exceptions.ResponseError) -> None:
        """Redis lost the consumer group (restarted empty): make it again, or re-raise."""
        if "NOGROUP" not in str(e):
            raise e
        log.warning("the consumer group is gone (Redis restarted empty?); creating it again")
        self._group_ready = False
        await self._ensure_group()

    async def ping(self) -> None:
        with _translate():
            await self.redis.ping()

    async def _messages(
        self, subscribe: Callable[[PubSub], Awaitable[None]], what: str
    ) -> AsyncIterator[dict[str, Any]]:
        """The messages of a subscription, subscribing again (with back-off) whenever the
        connection to Redis is lost."""
        delay = 0.1
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await subscribe(pubsub)
                delay = 0.1
                while True:
                    message = await pubsub.get_message(timeout=5.0)
                    if message is not None:
                        yield message
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError) as e:
                log.warning("%s lost Redis (%s); retrying in %.1f s", what, e, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, _RECONNECT_MAX_S)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _listen(self) -> None:
        """One pattern subscription per process carries every job's announcements."""
        pattern = self.keys.events_pattern
        async for message in self._messages(lambda p: p.psubscribe(pattern), "event listener"):
            self._watchers.announce(self.keys.job_id_of_events(str(message["channel"])))

    # --- the API's side -----------------------------------------------------------------
    async def submit(self, job: Job, request: JobRequest) -> None:
        await self.submit_many([(job, request)])

    async def submit_many(self, jobs: list[tuple[Job, JobRequest]]) -> None:
        await self._ensure_group()
        args: list[str | int] = [
            len(self._streams),
            self.settings.max_pending_jobs,
            self._ttl_ms,
            len(jobs),
        ]
        for job, request in jobs:
            index = self._stream_index.get(queue_of(request))
            if index is None:
                raise UnknownLanguageError(job.language, self._languages)
            args += [index, job.id, json.dumps(self._fields(job, request))]
        keys = [*self._streams.values(), *(self.keys.job(job.id) for job, _ in jobs)]
        with _translate():
            accepted = await self._submit(keys=keys, args=args)
        if not accepted:
            raise QueueFullError(self.settings.max_pending_jobs, self.settings.retry_after_s)

    @staticmethod
    def _fields(job: Job, request: JobRequest) -> dict[str, str]:
        fields: dict[str, str] = {
            "id": job.id,
            "status": job.status.value,
            "language": job.language,
            "limits": job.limits.model_dump_json(),
            "judge": "1" if job.judge else "0",
            "received_at": _epoch(job.timestamps.received_at),
            "attempts": "0",
            "request": request.model_dump_json(),
        }
        if job.origin != NATIVE:
            fields["origin"] = job.origin.model_dump_json()
        if job.interactive:
            fields["interactive"] = "1"
        if job.stream:
            fields["stream"] = "1"
        if job.input is not None:
            fields["input"] = job.input.model_dump_json(exclude_none=True)
        return fields

    async def get(self, job_id: str) -> Job | None:
        with _translate():
            fields = cast(dict[str, str], await self.redis.hgetall(self.keys.job(job_id)))
        if not fields or "status" not in fields:
            return None
        return _job_from_hash(fields)

    async def put_test_set(self, set_id: str, data: str, ttl_s: float) -> None:
        with _translate():
            await self.redis.set(self.keys.test_set(set_id), data, px=max(1, int(ttl_s * 1000)))

    async def get_test_set(self, set_id: str, ttl_s: float | None = None) -> str | None:
        key = self.keys.test_set(set_id)
        with _translate():
            if ttl_s is None:
                found = await self.redis.get(key)
            else:
                found = await self.redis.getex(key, px=max(1, int(ttl_s * 1000)))
        return cast(str | None, found)

    async def cancel(self, job_id: str, reason: str | None = None) -> Job:
        keys = [self.keys.job(job_id), self.keys.events(job_id), self.keys.control, *self._outbox]
        args: list[str | int] = [
            _epoch(utcnow()),
            self._ttl_ms,
            job_id,
            self.settings.history_backlog,
            reason or "",
        ]
        with _translate():
            answer = await self._cancel(keys=keys, args=args)
        if answer[0] == "missing":
            raise JobNotFoundError(job_id)
        if answer[0] == "finished":
            raise JobFinishedError(job_id, answer[1])
        job = await self.get(job_id)
        if job is None:
            raise JobNotFoundError(job_id)
        return job

    async def delete(self, job_id: str) -> bool:
        keys = [self.keys.job(job_id), self.keys.events(job_id)]
        with _translate():
            return bool(await self._delete(keys=keys, args=[]))

    def watch(self, job_id: str) -> AbstractAsyncContextManager[Watch]:
        return self._watchers.watch(job_id)

    def watch_many(self, job_ids: list[str]) -> AbstractAsyncContextManager[Watch]:
        return self._watchers.watch_many(job_ids)

    async def get_many(self, job_ids: list[str]) -> list[Job | None]:
        with _translate():
            async with self.redis.pipeline(transaction=False) as pipe:
                for job_id in job_ids:
                    pipe.hgetall(self.keys.job(job_id))
                replies = cast(list[dict[str, str]], await pipe.execute())
        return [
            _job_from_hash(fields) if fields and "status" in fields else None for fields in replies
        ]

    async def put_batch(self, batch_id: str, job_ids: list[str]) -> None:
        with _translate():
            await self.redis.set(self.keys.batch(batch_id), json.dumps(job_ids), px=self._ttl_ms)

    async def get_batch(self, batch_id: str) -> list[str] | None:
        with _translate():
            found = await self.redis.getex(self.keys.batch(batch_id), px=self._ttl_ms)
        return None if found is None else list(json.loads(found))

    async def stats(self) -> QueueStats:
        await self._ensure_group()
        horizon = time.time() - self.settings.lease_s
        for attempt in (1, 2):
            try:
                with _translate():
                    async with self.redis.pipeline(transaction=False) as pipe:
                        for stream in self._streams.values():
                            pipe.xlen(stream)
                            pipe.xpending(stream, Keys.GROUP)
                        pipe.zcount(self.keys.workers, horizon, "+inf")
                        *per_stream, alive = await pipe.execute()
                break
            except redis.exceptions.ResponseError as e:
                if attempt == 2:
                    raise
                await self._regroup_on(e)
        length = sum(int(n) for n in per_stream[0::2])
        running = sum(int(p["pending"]) if p else 0 for p in per_stream[1::2])
        return QueueStats(max(0, length - running), running, int(alive))

    async def languages(self) -> list[LanguageInfo]:
        horizon = time.time() - self.settings.lease_s
        with _translate():
            entries = cast(dict[str, str], await self.redis.hgetall(self.keys.languages))
        found = []
        for rid, raw in sorted(entries.items()):
            data = json.loads(raw)
            if float(data.get("seen", 0)) >= horizon:
                packages = {str(k): str(v) for k, v in dict(data.get("packages", {})).items()}
                found.append(LanguageInfo(rid, str(data["name"]), str(data["version"]), packages))
        return found

    # --- the workers' side ---------------------------------------------------------------
    async def heartbeat(
        self, worker_id: str, languages: list[LanguageInfo], claims: list[Claim]
    ) -> None:
        now = time.time()
        keys = [self.keys.workers]
        for c in claims:
            keys += [self.keys.stream(queue_of(c.request)), self.keys.job(c.job_id)]
        args: list[str | float] = [Keys.GROUP, worker_id, now, *(c.token for c in claims)]
        with _translate():
            try:
                await self._heartbeat(keys=keys, args=args)
            except redis.exceptions.ResponseError as e:
                await self._regroup_on(e)
            if languages:
                await self.redis.hset(
                    self.keys.languages,
                    mapping={
                        lang.id: json.dumps(
                            {
                                "name": lang.name,
                                "version": lang.version,
                                "packages": dict(lang.packages),
                                "seen": now,
                            }
                        )
                        for lang in languages
                    },
                )

    async def forget_worker(self, worker_id: str) -> None:
        with _translate():
            await self.redis.zrem(self.keys.workers, worker_id)

    async def _reclaim(self, worker_id: str, streams: list[str]) -> list[tuple[str, str, str]]:
        """An entry of one of streams idle for lease_s (its worker died, or handed it
        back), taken over: [(stream, entry id, job id)], or []."""
        min_idle_ms = int(self.settings.lease_s * 1000)
        for stream in streams:
            with _translate():
                reply: Any = await self.redis.xautoclaim(
                    stream, Keys.GROUP, worker_id, min_idle_ms, "0-0", count=1
                )
            claimed = [(stream, eid, fields["id"]) for eid, fields in reply[1] if fields]
            if claimed:
                return claimed
        return []

    async def _deliveries(
        self, worker_id: str, languages: frozenset[str], block_s: float
    ) -> list[tuple[str, str, str]]:
        """[(stream, entry id, job id)]: a stale entry taken over, else a new one (blocking),
        from the preferred lane when it has one (store.claim_order). A read may bring one
        entry of each stream; the first is kept and the others are handed back at once, for
        the next claim anywhere (this one's first)."""
        self._claims += 1
        order = claim_order(languages, batch_first=self._claims % BATCH_TURN == 0)
        streams = [self._streams.get(queue) or self.keys.stream(queue) for queue in order]
        now = time.monotonic()
        if now - self._last_reclaim >= self.settings.lease_s / 4:
            self._last_reclaim = now
            claimed = await self._reclaim(worker_id, streams)
            if claimed:
                self._last_reclaim = 0.0  # there may be more: look again next time
                return claimed
        # The preferred lane alone first, without blocking: a read of both lanes would
        # bring an entry of each, and the one handed back would come first next time.
        lane = streams[: len(streams) // 2]
        with _translate():
            reply: Any = await self.redis.xreadgroup(
                Keys.GROUP, worker_id, dict.fromkeys(lane, ">"), count=1
            )
            if not reply:
                reply = await self.redis.xreadgroup(
                    Keys.GROUP,
                    worker_id,
                    dict.fromkeys(streams, ">"),
                    count=1,
                    block=max(1, int(block_s * 1000)),
                )
        found = [
            (str(stream), eid, fields["id"])
            for stream, entries in reply or []
            for eid, fields in entries
            if fields
        ]
        for stream, eid, _ in found[1:]:
            await self._give_back(stream, worker_id, eid)
            self._last_reclaim = 0.0
        return found[:1]

    async def claim(
        self, worker_id: str, languages: frozenset[str], block_s: float
    ) -> Claim | None:
        if not languages:
            return None
        await self._ensure_group()
        deadline = time.monotonic() + block_s
        while True:
            try:
                deliveries = await self._deliveries(worker_id, languages, block_s)
            except redis.exceptions.ResponseError as e:
                await self._regroup_on(e)
                deliveries = []
            for stream, entry_id, job_id in deliveries:
                keys = [self.keys.job(job_id), stream, self.keys.events(job_id), *self._outbox]
                args: list[str | int] = [
                    entry_id,
                    worker_id,
                    _epoch(utcnow()),
                    self.settings.max_deliveries,
                    self._ttl_ms,
                    Keys.GROUP,
                    TOO_MANY_DELIVERIES.replace("{n}", "%d"),
                    job_id,
                    self.settings.history_backlog,
                ]
                with _translate():
                    answer = await self._start(keys=keys, args=args)
                if answer[0] == "run":
                    request = JobRequest.model_validate_json(answer[1])
                    received = _when(answer[3]) or utcnow()
                    return Claim(job_id, entry_id, worker_id, request, int(answer[2]), received)
            block_s = deadline - time.monotonic()
            if block_s <= 0:
                return None

    async def _update_running(self, claim: Claim, announce: bool, **fields: str) -> None:
        args: list[str | int] = [claim.worker_id, self._ttl_ms, "1" if announce else "0"]
        for key, value in fields.items():
            args += [key, value]
        with _translate():
            await self._update(
                keys=[self.keys.job(claim.job_id), self.keys.events(claim.job_id)], args=args
            )

    async def started(self, claim: Claim, at: datetime) -> None:
        await self._update_running(claim, False, started_at=_epoch(at))

    async def progress(self, claim: Claim, progress: Progress) -> None:
        await self._update_running(claim, True, progress=progress.model_dump_json())

    async def finish(self, claim: Claim, ending: Ending) -> bool:
        fields: dict[str, str] = {"stored_at": _epoch(utcnow())}
        if ending.result is not None:
            fields["result"] = ending.result.model_dump_json()
        if ending.error is not None:
            fields["error"] = ending.error
        if ending.started_at is not None:
            fields["started_at"] = _epoch(ending.started_at)
        if ending.finished_at is not None:
            fields["finished_at"] = _epoch(ending.finished_at)
        args: list[Any] = [
            claim.token,
            claim.worker_id,
            Keys.GROUP,
            self._ttl_ms,
            ending.status.value,
            claim.job_id,
            self.settings.history_backlog,
        ]
        for key, value in fields.items():
            args += [key, value]
        keys = [
            self.keys.job(claim.job_id),
            self.keys.stream(queue_of(claim.request)),
            self.keys.events(claim.job_id),
            *self._outbox,
        ]
        with _translate():
            return bool(await self._finish(keys=keys, args=args))

    async def hand_back(self, claim: Claim) -> None:
        await self._give_back(
            self.keys.stream(queue_of(claim.request)), claim.worker_id, claim.token
        )

    async def _give_back(self, stream: str, worker_id: str, entry_id: str) -> None:
        """Make an entry look long idle, so that the next XAUTOCLAIM anywhere takes it."""
        idle_ms = int(self.settings.lease_s * 1000) + 1
        with _translate():
            await self.redis.xclaim(
                stream, Keys.GROUP, worker_id, 0, [entry_id], idle=idle_ms, justid=True
            )

    # --- the history's side: the outbox of ended jobs ---------------------------------------
    async def open_outbox(self) -> None:
        with _translate():
            try:
                await self.redis.xgroup_create(
                    self.keys.history, Keys.HISTORY_GROUP, id="0", mkstream=True
                )
            except redis.exceptions.ResponseError as e:
                if "BUSYGROUP" not in str(e):
                    raise

    async def ended(self, consumer: str, count: int, block_s: float) -> list[Ended]:
        try:
            entries = await self._outbox_entries(consumer, count, block_s)
        except redis.exceptions.ResponseError as e:
            if "NOGROUP" not in str(e):
                raise
            log.warning("the history outbox is gone (Redis restarted empty?); making it again")
            await self.open_outbox()
            return []
        if not entries:
            return []
        with _translate():
            async with self.redis.pipeline(transaction=False) as pipe:
                for _, job_id in entries:
                    pipe.hgetall(self.keys.job(job_id))
                hashes = await pipe.execute()
        return [
            Ended(entry_id, job_id, _job_from_hash(fields) if fields.get("status") else None)
            for (entry_id, job_id), fields in zip(entries, hashes, strict=True)
        ]

    async def _outbox_entries(
        self, consumer: str, count: int, block_s: float
    ) -> list[tuple[str, str]]:
        """[(entry id, job id)]: entries whose consumer went silent for 10 x lease_s taken
        over (looked for every lease_s), else this consumer's own unacknowledged ones, else
        new ones (blocking)."""
        stream, group = self.keys.history, Keys.HISTORY_GROUP
        reply: Any = None
        now = time.monotonic()
        if now - self._last_outbox_reclaim >= self.settings.lease_s:
            self._last_outbox_reclaim = now
            idle_ms = int(10 * self.settings.lease_s * 1000)
            with _translate():
                claimed: Any = await self.redis.xautoclaim(
                    stream, group, consumer, idle_ms, "0-0", count=count
                )
            if claimed[1]:
                reply = [[stream, claimed[1]]]
                self._last_outbox_reclaim = 0.0  # there may be more
        if reply is None:
            # This consumer's own entries first: taken and not acknowledged, they are a read
            # whose reply was lost (a dropped connection, a cancelled call), and would
            # otherwise wait for the 10-lease takeover. Entries trimmed from the outbox
            # meanwhile come back empty: acknowledged here, or they would come back forever.
            with _translate():
                own: Any = await self.redis.xreadgroup(group, consumer, {stream: "0"}, count=count)
            gone = [eid for _, entries in own or [] for eid, fields in entries if not fields]
            if gone:
                with _translate():
                    await self.redis.xack(stream, group, *gone)
            if any(fields for _, entries in own or [] for _, fields in entries):
                reply = own
        if reply is None:
            with _translate():
                reply = await self.redis.xreadgroup(
                    group, consumer, {stream: ">"}, count=count, block=max(1, int(block_s * 1000))
                )
        return [
            (eid, fields["id"]) for _, entries in reply or [] for eid, fields in entries if fields
        ]

    async def recorded(self, consumer: str, tokens: list[str]) -> None:
        if not tokens:
            return
        with _translate():
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.xack(self.keys.history, Keys.HISTORY_GROUP, *tokens)
                pipe.xdel(self.keys.history, *tokens)
                await pipe.execute()

    async def backlog(self) -> Backlog:
        with _translate():
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.xlen(self.keys.history)
                pipe.xrange(self.keys.history, count=1)
                pipe.get(self.keys.history_dropped)
                waiting, first, dropped = await pipe.execute()
        age = 0.0
        if first:
            age = max(0.0, time.time() - int(str(first[0][0]).split("-")[0]) / 1000)
        return Backlog(int(waiting), age, int(dropped or 0))

    async def cancellations(self) -> AsyncIterator[str]:
        control = self.keys.control
        async for message in self._messages(lambda p: p.subscribe(control), "control listener"):
            verb, _, job_id = str(message["data"]).partition(" ")
            if verb == "cancel":
                yield job_id


class RedisSessions(Sessions):
    """Live sessions in Redis (see session.py): the output log is a stream per job, read
    with blocking XREADs from each reader's own cursor; the input queue a list per job
    (a stream per job, added to by a script that refuses past MAX_PENDING_INPUTS, read
    from the worker's cursor and trimmed behind it);
    presence a sorted set of attached clients and the time each one's presence lapses."""

    def __init__(self, client: aioredis.Redis, keys: Keys, ttl_ms: int) -> None:
        self.redis = client
        self.keys = keys
        self.ttl_ms = ttl_ms
        self._send = client.register_script(_SESSION_SEND)

    async def send(self, job_id: str, command: Command) -> None:
        delay = 0.001
        while True:
            with _translate():
                queued = await self._send(
                    keys=[self.keys.session_input(job_id)],
                    args=[MAX_PENDING_INPUTS, self.ttl_ms, command.dumps()],
                )
            if queued:
                return
            # Full: the worker takes the next command once the program read the last.
            await asyncio.sleep(delay)
            delay = min(delay * 2, _SEND_BACKOFF_MAX_S)

    async def read(self, job_id: str, cursor: str, timeout_s: float) -> tuple[list[Output], str]:
        key = self.keys.session_output(job_id)
        block_ms = int(min(timeout_s, _SESSION_BLOCK_MAX_S) * 1000)
        with _translate():
            reply: Any = await self.redis.xread(
                {key: cursor or START}, count=256, block=block_ms if block_ms > 0 else None
            )
        entries: list[Output] = []
        for _, items in reply or []:
            for entry_id, fields in items:
                cursor = entry_id
                if "e" in fields:
                    entries.append(Output.loads(fields["e"]))
        return entries, cursor

    @contextlib.asynccontextmanager
    async def _attach(self, job_id: str) -> AsyncIterator[None]:
        key = self.keys.session_clients(job_id)
        client = uuid.uuid4().hex

        async def present() -> None:
            with _translate():
                async with self.redis.pipeline(transaction=True) as pipe:
                    pipe.zadd(key, {client: time.time() + PRESENCE_TTL_S})
                    pipe.pexpire(key, self.ttl_ms)
                    await pipe.execute()

        async def renew() -> None:
            while True:
                await asyncio.sleep(PRESENCE_TTL_S / 3)
                with contextlib.suppress(BackendUnavailableError):
                    await present()

        await present()
        renewing = asyncio.create_task(renew())
        try:
            yield
        finally:
            await stop([renewing])
            with contextlib.suppress(BackendUnavailableError), _translate():
                await self.redis.zrem(key, client)

    def attach(self, job_id: str) -> AbstractAsyncContextManager[None]:
        return self._attach(job_id)

    async def begin(self, job_id: str) -> None:
        with _translate():
            # Emptied, not deleted: an empty stream keeps its last entry id, so the new
            # delivery's entries get later ids and a cursor from the earlier one stays valid
            # (a deleted stream would start again at the clock, maybe at or below it).
            await self.redis.xtrim(self.keys.session_output(job_id), maxlen=0, approximate=False)

    async def publish(self, job_id: str, entries: list[Output]) -> None:
        key = self.keys.session_output(job_id)
        with _translate():
            async with self.redis.pipeline(transaction=True) as pipe:
                for entry in entries:
                    pipe.xadd(key, {"e": entry.dumps()})
                pipe.pexpire(key, self.ttl_ms)
                await pipe.execute()

    async def receive(
        self, job_id: str, cursor: str, timeout_s: float
    ) -> tuple[Command | None, str]:
        # Read from a cursor, then trimmed: a popped list item (BLPOP) whose reply was lost
        # with its connection, or with a cancelled call, was a command lost for good.
        key = self.keys.session_input(job_id)
        block_ms = max(1, int(min(timeout_s, _SESSION_BLOCK_MAX_S) * 1000))
        with _translate():
            reply: Any = await self.redis.xread({key: cursor or START}, count=1, block=block_ms)
        for _, items in reply or []:
            for entry_id, fields in items:
                ms, seq = entry_id.split("-")
                with contextlib.suppress(BackendUnavailableError), _translate():
                    # Room for the next command; the cursor alone keeps this one from
                    # being read again if the trim does not happen.
                    await self.redis.xtrim(key, minid=f"{ms}-{int(seq) + 1}", approximate=False)
                return Command.loads(fields["c"]), entry_id
        return None, cursor

    async def attached(self, job_id: str) -> bool:
        with _translate():
            count = await self.redis.zcount(self.keys.session_clients(job_id), time.time(), "+inf")
        return bool(count)

    async def end(self, job_id: str) -> None:
        with _translate():
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.delete(self.keys.session_input(job_id))
                pipe.pexpire(self.keys.session_output(job_id), int(LOG_TTL_S * 1000))
                await pipe.execute()
