"""The Redis backend: API replicas and workers on many machines share one Redis.

Jobs wait in a stream read by the consumer group "workers": a delivered entry stays in the
group's pending list until the worker that runs the job acknowledges it, and a worker
keeps its entries' idle time low by heartbeating. An entry idle for `lease_s` belongs to a
dead worker: XAUTOCLAIM hands it to another. Every change of a job is one Lua script, so
the job's hash, the stream and the announcement move together. JSON on the wire.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Any, cast

import redis.asyncio as aioredis
import redis.exceptions
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

from onpyrunner.errors import (
    BackendUnavailableError,
    JobFinishedError,
    JobNotFoundError,
    QueueFullError,
)
from onpyrunner.models import (
    Job,
    JobRequest,
    JobStatus,
    JudgeResult,
    Limits,
    Progress,
    RunResult,
    Timestamps,
)
from onpyrunner.queue.keys import Keys
from onpyrunner.queue.store import (
    TOO_MANY_DELIVERIES,
    Claim,
    Ending,
    JobStore,
    LanguageInfo,
    QueueStats,
    Watch,
    Watchers,
    utcnow,
)
from onpyrunner.settings import Settings

log = logging.getLogger(__name__)

_STAMPS = ("received_at", "picked_up_at", "started_at", "finished_at", "stored_at")
_RECONNECT_MAX_S = 5.0

# KEYS: stream, job.  ARGV: max_pending, ttl_ms, job id, the job's fields as one JSON
# object of strings (one argument, not two per field: packing arguments is the costly part
# of a command on the client).
_SUBMIT = """
if redis.call('XLEN', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
local pairs_ = {}
for field, value in pairs(cjson.decode(ARGV[4])) do
  pairs_[#pairs_ + 1] = field
  pairs_[#pairs_ + 1] = value
end
redis.call('HSET', KEYS[2], unpack(pairs_))
redis.call('PEXPIRE', KEYS[2], ARGV[2])
redis.call('XADD', KEYS[1], '*', 'id', ARGV[3])
return 1
"""

# KEYS: job, stream, events.  ARGV: entry id, worker, now, max deliveries, ttl_ms, group,
# reason format.  Returns {'run', request, attempts, received_at} or {'gone'}.
_START = """
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
  return {'gone'}
end
redis.call('HSET', KEYS[1], 'status', 'RUNNING', 'attempts', attempts, 'worker', ARGV[2],
           'picked_up_at', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('PUBLISH', KEYS[3], 'RUNNING')
return {'run', cur[3], attempts, cur[4]}
"""

# KEYS: job, stream, events.  ARGV: entry id, worker, group, ttl_ms, status,
# field, value, ...  Returns 1 when stored, 0 when the claim is no longer this worker's.
_FINISH = """
local cur = redis.call('HMGET', KEYS[1], 'status', 'worker')
if cur[2] ~= ARGV[2] then return 0 end
redis.call('XACK', KEYS[2], ARGV[3], ARGV[1])
redis.call('XDEL', KEYS[2], ARGV[1])
if cur[1] ~= 'RUNNING' then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[5], unpack(ARGV, 6))
redis.call('HDEL', KEYS[1], 'request')
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PUBLISH', KEYS[3], ARGV[5])
return 1
"""

# KEYS: job, events.  ARGV: worker, ttl_ms, announce (0/1), field, value, ...
_UPDATE_RUNNING = """
local cur = redis.call('HMGET', KEYS[1], 'status', 'worker')
if cur[1] ~= 'RUNNING' or cur[2] ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
if ARGV[3] == '1' then redis.call('PUBLISH', KEYS[2], 'RUNNING') end
return 1
"""

# KEYS: job, events, control.  ARGV: now, ttl_ms, job id.
_CANCEL = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {'missing'} end
if status == 'COMPLETED' or status == 'FAILED' or status == 'CANCELLED' then
  return {'finished', status}
end
redis.call('HSET', KEYS[1], 'status', 'CANCELLED', 'finished_at', ARGV[1])
redis.call('HDEL', KEYS[1], 'request')
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('PUBLISH', KEYS[2], 'CANCELLED')
if status == 'RUNNING' then redis.call('PUBLISH', KEYS[3], 'cancel ' .. ARGV[3]) end
return {'ok'}
"""

# KEYS: job, events.  Removes a finished job; 1 when removed.
_DELETE = """
local status = redis.call('HGET', KEYS[1], 'status')
if status ~= 'COMPLETED' and status ~= 'FAILED' and status ~= 'CANCELLED' then return 0 end
redis.call('DEL', KEYS[1])
redis.call('PUBLISH', KEYS[2], 'DELETED')
return 1
"""

# KEYS: stream, workers, job...  ARGV: group, worker, now, entry id...
# Keeps the worker alive and resets the idle time of its entries it still owns.
_HEARTBEAT = """
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
local mine = {}
for i = 3, #KEYS do
  if redis.call('HGET', KEYS[i], 'worker') == ARGV[2] then
    table.insert(mine, ARGV[i + 1])
  end
end
if #mine > 0 then
  redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, unpack(mine))
end
return #mine
"""


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
        timestamps=Timestamps.model_validate(stamps),
        result=result,
        error=fields.get("error") or None,
        attempts=int(fields.get("attempts") or 0),
        progress=Progress.model_validate_json(fields["progress"])
        if fields.get("progress")
        else None,
        echo=json.loads(fields["echo"]) if fields.get("echo") else None,
    )


class RedisStore(JobStore):
    """Jobs in Redis, under settings.redis_prefix."""

    def __init__(self, settings: Settings, url: str) -> None:
        self.settings = settings
        self.keys = Keys(settings.redis_prefix)
        # A pooled connection that went stale (Redis restarted) is retried at once on a new
        # one; Redis really down still fails fast (two quick retries), as a 503.
        self.redis: aioredis.Redis = aioredis.from_url(
            url, decode_responses=True, socket_connect_timeout=2, socket_timeout=5,
            health_check_interval=10,
            retry=Retry(ExponentialBackoff(cap=0.2, base=0.02), 2),
            retry_on_error=[redis.exceptions.ConnectionError, redis.exceptions.TimeoutError],
        )  # fmt: skip
        self._submit = self.redis.register_script(_SUBMIT)
        self._start = self.redis.register_script(_START)
        self._finish = self.redis.register_script(_FINISH)
        self._update = self.redis.register_script(_UPDATE_RUNNING)
        self._cancel = self.redis.register_script(_CANCEL)
        self._delete = self.redis.register_script(_DELETE)
        self._heartbeat = self.redis.register_script(_HEARTBEAT)
        self._ttl_ms = int(settings.job_ttl_s * 1000)
        self._watchers = Watchers()
        self._listener: asyncio.Task[None] | None = None
        self._group_ready = False
        self._last_reclaim = 0.0

    # --- life ------------------------------------------------------------------------
    async def open(self) -> None:
        self._listener = asyncio.create_task(self._listen())
        with contextlib.suppress(BackendUnavailableError):
            await self._ensure_group()

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        await self.redis.aclose()

    async def _ensure_group(self) -> None:
        if self._group_ready:
            return
        with _translate():
            try:
                await self.redis.xgroup_create(self.keys.stream, Keys.GROUP, id="0", mkstream=True)
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
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError,
                    OSError) as e:  # fmt: skip
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
        await self._ensure_group()
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
        if job.echo is not None:
            fields["echo"] = json.dumps(job.echo)
        args: list[str | int] = [
            self.settings.max_pending_jobs,
            self._ttl_ms,
            job.id,
            json.dumps(fields),
        ]
        with _translate():
            accepted = await self._submit(keys=[self.keys.stream, self.keys.job(job.id)], args=args)
        if not accepted:
            raise QueueFullError(self.settings.max_pending_jobs, self.settings.retry_after_s)

    async def get(self, job_id: str) -> Job | None:
        with _translate():
            fields = cast(dict[str, str], await self.redis.hgetall(self.keys.job(job_id)))
        if not fields or "status" not in fields:
            return None
        return _job_from_hash(fields)

    async def cancel(self, job_id: str) -> Job:
        keys = [self.keys.job(job_id), self.keys.events(job_id), self.keys.control]
        with _translate():
            answer = await self._cancel(keys=keys, args=[_epoch(utcnow()), self._ttl_ms, job_id])
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

    async def stats(self) -> QueueStats:
        await self._ensure_group()
        horizon = time.time() - self.settings.lease_s
        for attempt in (1, 2):
            try:
                with _translate():
                    async with self.redis.pipeline(transaction=False) as pipe:
                        pipe.xlen(self.keys.stream)
                        pipe.xpending(self.keys.stream, Keys.GROUP)
                        pipe.zcount(self.keys.workers, horizon, "+inf")
                        length, pending, alive = await pipe.execute()
                break
            except redis.exceptions.ResponseError as e:
                if attempt == 2:
                    raise
                await self._regroup_on(e)
        running = int(pending["pending"]) if pending else 0
        return QueueStats(max(0, int(length) - running), running, int(alive))

    async def languages(self) -> list[LanguageInfo]:
        horizon = time.time() - self.settings.lease_s
        with _translate():
            entries = cast(dict[str, str], await self.redis.hgetall(self.keys.languages))
        found = []
        for rid, raw in sorted(entries.items()):
            data = json.loads(raw)
            if float(data.get("seen", 0)) >= horizon:
                found.append(LanguageInfo(rid, str(data["name"]), str(data["version"])))
        return found

    # --- the workers' side ---------------------------------------------------------------
    async def heartbeat(
        self, worker_id: str, languages: list[LanguageInfo], claims: list[Claim]
    ) -> None:
        now = time.time()
        keys = [self.keys.stream, self.keys.workers, *(self.keys.job(c.job_id) for c in claims)]
        args: list[str | float] = [Keys.GROUP, worker_id, now, *(c.token for c in claims)]
        with _translate():
            try:
                await self._heartbeat(keys=keys, args=args)
            except redis.exceptions.ResponseError as e:
                await self._regroup_on(e)
            if languages:
                await self.redis.hset(self.keys.languages, mapping={
                    lang.id: json.dumps({"name": lang.name, "version": lang.version,
                                         "seen": now})
                    for lang in languages
                })  # fmt: skip

    async def forget_worker(self, worker_id: str) -> None:
        with _translate():
            await self.redis.zrem(self.keys.workers, worker_id)

    async def _deliveries(self, worker_id: str, block_s: float) -> list[tuple[str, str]]:
        """(entry id, job id): a stale entry taken over, else a new one (blocking)."""
        now = time.monotonic()
        if now - self._last_reclaim >= self.settings.lease_s / 4:
            self._last_reclaim = now
            min_idle_ms = int(self.settings.lease_s * 1000)
            with _translate():
                claimed_reply: Any = await self.redis.xautoclaim(
                    self.keys.stream, Keys.GROUP, worker_id, min_idle_ms, "0-0", count=1
                )
            claimed = [(eid, fields["id"]) for eid, fields in claimed_reply[1] if fields]
            if claimed:
                self._last_reclaim = 0.0  # there may be more: look again next time
                return claimed
        with _translate():
            reply: Any = await self.redis.xreadgroup(
                Keys.GROUP, worker_id, {self.keys.stream: ">"}, count=1,
                block=max(1, int(block_s * 1000)),
            )  # fmt: skip
        return [(eid, fields["id"]) for _, entries in reply or [] for eid, fields in entries]

    async def claim(self, worker_id: str, block_s: float) -> Claim | None:
        await self._ensure_group()
        deadline = time.monotonic() + block_s
        while True:
            try:
                deliveries = await self._deliveries(worker_id, block_s)
            except redis.exceptions.ResponseError as e:
                await self._regroup_on(e)
                deliveries = []
            for entry_id, job_id in deliveries:
                keys = [self.keys.job(job_id), self.keys.stream, self.keys.events(job_id)]
                args: list[str | int] = [
                    entry_id,
                    worker_id,
                    _epoch(utcnow()),
                    self.settings.max_deliveries,
                    self._ttl_ms,
                    Keys.GROUP,
                    TOO_MANY_DELIVERIES.replace("{n}", "%d"),
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
        ]
        for key, value in fields.items():
            args += [key, value]
        keys = [self.keys.job(claim.job_id), self.keys.stream, self.keys.events(claim.job_id)]
        with _translate():
            return bool(await self._finish(keys=keys, args=args))

    async def hand_back(self, claim: Claim) -> None:
        # Make the entry look long idle, so that the next XAUTOCLAIM anywhere takes it.
        idle_ms = int(self.settings.lease_s * 1000) + 1
        with _translate():
            await self.redis.xclaim(
                self.keys.stream,
                Keys.GROUP,
                claim.worker_id,
                0,
                [claim.token],
                idle=idle_ms,
                justid=True,
            )

    async def cancellations(self) -> AsyncIterator[str]:
        control = self.keys.control
        async for message in self._messages(lambda p: p.subscribe(control), "control listener"):
            verb, _, job_id = str(message["data"]).partition(" ")
            if verb == "cancel":
                yield job_id
