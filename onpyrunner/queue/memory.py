"""The in-memory backend: the embedded default, API and workers in one process.

Same contract as the Redis backend (see store.py), with asyncio primitives: a deque of
waiting jobs per language, a table of claims with lease deadlines, and per-job sets of
queues for watchers. Nothing survives the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime

from onpyrunner.errors import JobFinishedError, JobNotFoundError, QueueFullError
from onpyrunner.models import TERMINAL_STATUSES, Job, JobRequest, JobStatus, Progress
from onpyrunner.queue.session import (
    LOG_TTL_S,
    MAX_PENDING_INPUTS,
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


@dataclass
class _Entry:
    job: Job
    request: JobRequest | None  # dropped once the job ends
    expires_at: float
    worker: str | None = None


@dataclass
class _Flight:
    job_id: str
    language: str
    worker_id: str
    lease_until: float


@dataclass(frozen=True)
class _Waiting:
    order: int  # submission order, across languages
    token: str
    job_id: str


class MemoryStore(JobStore):
    """Jobs in this process's memory."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._entries: dict[str, _Entry] = {}
        self._waiting: dict[str, deque[_Waiting]] = {}  # by queue (store.queue_of)
        self._claims = 0
        self._waiting_count = 0
        self._flights: dict[str, _Flight] = {}  # token -> claim
        self._tokens = itertools.count(1)
        self._arrived = asyncio.Condition()
        self._watchers = Watchers()
        self._control: set[asyncio.Queue[str]] = set()
        self._workers: dict[str, tuple[float, list[LanguageInfo]]] = {}
        self._purged_at = 0.0
        self._test_sets: dict[str, tuple[float, str]] = {}  # id -> (expires at, JSON)
        self._batches: dict[str, tuple[float, list[str]]] = {}  # id -> (expires at, job ids)
        self.sessions = MemorySessions(settings.job_ttl_s)
        # The outbox of ended jobs: waiting in order of ending, and taken (token -> when and
        # by whom) until acknowledged. None until a history writer opens it.
        self._outbox: dict[str, tuple[float, Job]] | None = None
        self._taken: dict[str, tuple[float, str]] = {}
        self._outbox_tokens = itertools.count(1)
        self._outbox_changed = asyncio.Event()
        self._dropped = 0

    # --- helpers ---------------------------------------------------------------------
    def _now(self) -> float:
        return time.monotonic()

    def _live(self, job_id: str) -> _Entry | None:
        entry = self._entries.get(job_id)
        if entry is not None and entry.expires_at <= self._now():
            del self._entries[job_id]
            return None
        return entry

    def _touch(self, entry: _Entry) -> None:
        entry.expires_at = self._now() + self.settings.job_ttl_s

    def _announce(self, job_id: str) -> None:
        self._watchers.announce(job_id)

    def _update(self, entry: _Entry, **changes: object) -> None:
        entry.job = entry.job.model_copy(update=changes)
        self._touch(entry)
        self._announce(entry.job.id)
        if entry.job.status in TERMINAL_STATUSES:
            self._put_ended(entry.job)

    def _put_ended(self, job: Job) -> None:
        """The job ended: on the outbox, the oldest waiting one dropped past the bound."""
        if self._outbox is None:
            return
        self._outbox[str(next(self._outbox_tokens))] = (self._now(), job)
        while len(self._outbox) > self.settings.history_backlog:
            oldest = next((t for t in self._outbox if t not in self._taken), None)
            if oldest is None:
                break
            del self._outbox[oldest]
            self._dropped += 1
        self._outbox_changed.set()

    def _purge(self) -> None:
        """Drop expired records, and waiting entries whose job is gone or finished (a job
        no worker's language matches waits until then); at most once a second, so that a
        submit stays O(1) on average."""
        now = self._now()
        if now - self._purged_at < 1.0:
            return
        self._purged_at = now
        for job_id in [j for j, e in self._entries.items() if e.expires_at <= now]:
            del self._entries[job_id]
        for batch_id in [b for b, (expires_at, _) in self._batches.items() if expires_at <= now]:
            del self._batches[batch_id]
        for queue in self._waiting.values():
            kept = [w for w in queue if not self._settled(w.job_id)]
            self._waiting_count -= len(queue) - len(kept)
            queue.clear()
            queue.extend(kept)

    def _settled(self, job_id: str) -> bool:
        entry = self._entries.get(job_id)
        return entry is None or entry.request is None

    # --- the API's side -----------------------------------------------------------------
    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def ping(self) -> None:
        return None

    async def submit(self, job: Job, request: JobRequest) -> None:
        await self.submit_many([(job, request)])

    async def submit_many(self, jobs: list[tuple[Job, JobRequest]]) -> None:
        unfinished = self._waiting_count + len(self._flights)
        if unfinished + len(jobs) > self.settings.max_pending_jobs:
            raise QueueFullError(self.settings.max_pending_jobs, self.settings.retry_after_s)
        self._purge()
        async with self._arrived:
            for job, request in jobs:
                self._entries[job.id] = _Entry(job, request, 0.0)
                self._touch(self._entries[job.id])
                order = next(self._tokens)
                waiting = self._waiting.setdefault(queue_of(request), deque())
                waiting.append(_Waiting(order, str(order), job.id))
                self._waiting_count += 1
            self._arrived.notify_all()

    async def get(self, job_id: str) -> Job | None:
        entry = self._live(job_id)
        return entry.job if entry is not None else None

    async def put_test_set(self, set_id: str, data: str, ttl_s: float) -> None:
        self._purge_test_sets()
        self._test_sets[set_id] = (self._now() + ttl_s, data)

    async def get_test_set(self, set_id: str, ttl_s: float | None = None) -> str | None:
        self._purge_test_sets()
        found = self._test_sets.get(set_id)
        if found is None:
            return None
        if ttl_s is not None:
            self._test_sets[set_id] = (max(found[0], self._now() + ttl_s), found[1])
        return found[1]

    def _purge_test_sets(self) -> None:
        now = self._now()
        for set_id in [k for k, (expires_at, _) in self._test_sets.items() if expires_at <= now]:
            del self._test_sets[set_id]

    async def cancel(self, job_id: str, reason: str | None = None) -> Job:
        entry = self._live(job_id)
        if entry is None:
            raise JobNotFoundError(job_id)
        status = entry.job.status
        if status in TERMINAL_STATUSES:
            raise JobFinishedError(job_id, status)
        stamps = entry.job.timestamps.model_copy(update={"finished_at": utcnow()})
        self._update(entry, status=JobStatus.CANCELLED, timestamps=stamps, error=reason)
        entry.request = None
        if status is JobStatus.RUNNING:
            for queue in self._control:
                queue.put_nowait(job_id)
        return entry.job

    async def delete(self, job_id: str) -> bool:
        entry = self._live(job_id)
        if entry is None or entry.job.status not in TERMINAL_STATUSES:
            return False
        del self._entries[job_id]
        self._announce(job_id)
        return True

    def watch(self, job_id: str) -> AbstractAsyncContextManager[Watch]:
        return self._watchers.watch(job_id)

    def watch_many(self, job_ids: list[str]) -> AbstractAsyncContextManager[Watch]:
        return self._watchers.watch_many(job_ids)

    async def put_batch(self, batch_id: str, job_ids: list[str]) -> None:
        self._batches[batch_id] = (self._now() + self.settings.job_ttl_s, list(job_ids))

    async def get_batch(self, batch_id: str) -> list[str] | None:
        found = self._batches.get(batch_id)
        if found is None or found[0] <= self._now():
            self._batches.pop(batch_id, None)
            return None
        self._batches[batch_id] = (self._now() + self.settings.job_ttl_s, found[1])
        return list(found[1])

    def _alive_workers(self) -> dict[str, list[LanguageInfo]]:
        horizon = self._now() - self.settings.lease_s
        return {w: langs for w, (seen, langs) in self._workers.items() if seen >= horizon}

    async def stats(self) -> QueueStats:
        return QueueStats(self._waiting_count, len(self._flights), len(self._alive_workers()))

    async def languages(self) -> list[LanguageInfo]:
        found: dict[str, LanguageInfo] = {}
        for langs in self._alive_workers().values():
            for lang in langs:
                found.setdefault(lang.id, lang)
        return sorted(found.values(), key=lambda lang: lang.id)

    # --- the workers' side ---------------------------------------------------------------
    async def heartbeat(
        self, worker_id: str, languages: list[LanguageInfo], claims: list[Claim]
    ) -> None:
        now = self._now()
        self._workers[worker_id] = (now, languages)
        for claim in claims:
            flight = self._flights.get(claim.token)
            if flight is not None and flight.worker_id == worker_id:
                flight.lease_until = now + self.settings.lease_s

    async def forget_worker(self, worker_id: str) -> None:
        self._workers.pop(worker_id, None)

    def _take_stale(self, worker_id: str, languages: frozenset[str]) -> tuple[str, str] | None:
        now = self._now()
        for token, flight in self._flights.items():
            if flight.lease_until <= now and flight.language in languages:
                flight.worker_id = worker_id
                flight.lease_until = now + self.settings.lease_s
                return token, flight.job_id
        return None

    def _oldest_waiting(self, languages: frozenset[str]) -> _Waiting | None:
        """The next job for a worker of these languages, taken off its queue: the one
        waiting longest in the first lane (single jobs, or batch jobs on a batch turn)
        that has one."""
        self._claims += 1
        batch_first = self._claims % BATCH_TURN == 0
        singles = sorted(languages)
        lanes = [singles, [f"{language}:batch" for language in singles]]
        for lane in reversed(lanes) if batch_first else lanes:
            heads = [(self._waiting[q][0].order, q) for q in lane if self._waiting.get(q)]
            if heads:
                _, queue = min(heads)
                self._waiting_count -= 1
                return self._waiting[queue].popleft()
        return None

    async def _next(
        self, worker_id: str, languages: frozenset[str], block_s: float
    ) -> tuple[str, str] | None:
        stale = self._take_stale(worker_id, languages)
        if stale is not None:
            return stale
        async with self._arrived:
            found = self._oldest_waiting(languages)
            if found is None:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(block_s):
                        await self._arrived.wait_for(
                            lambda: any(self._waiting.get(q) for q in claim_order(languages, False))
                        )
                found = self._oldest_waiting(languages)
            if found is None:
                return None
        entry = self._entries.get(found.job_id)
        language = entry.job.language if entry is not None else ""
        self._flights[found.token] = _Flight(
            found.job_id, language, worker_id, self._now() + self.settings.lease_s
        )
        return found.token, found.job_id

    async def claim(
        self, worker_id: str, languages: frozenset[str], block_s: float
    ) -> Claim | None:
        deadline = self._now() + block_s
        while True:
            got = await self._next(worker_id, languages, max(0.0, deadline - self._now()))
            if got is None:
                return None
            token, job_id = got
            claim = self._start(token, job_id, worker_id)
            if claim is not None:
                return claim
            if self._now() >= deadline:
                return None

    def _start(self, token: str, job_id: str, worker_id: str) -> Claim | None:
        """The START step (Redis: the `start` script): settle or hand out one delivery."""
        entry = self._live(job_id)
        if entry is None or entry.job.status in TERMINAL_STATUSES or entry.request is None:
            self._flights.pop(token, None)
            return None
        attempts = entry.job.attempts + 1
        if attempts > self.settings.max_deliveries:
            stamps = entry.job.timestamps.model_copy(update={"stored_at": utcnow()})
            self._update(
                entry,
                status=JobStatus.FAILED,
                attempts=attempts - 1,
                error=TOO_MANY_DELIVERIES.format(n=attempts - 1),
                timestamps=stamps,
            )
            entry.request = None
            self._flights.pop(token, None)
            return None
        stamps = entry.job.timestamps.model_copy(update={"picked_up_at": utcnow()})
        entry.worker = worker_id
        self._update(
            entry, status=JobStatus.RUNNING, attempts=attempts, timestamps=stamps, worker=worker_id
        )
        return Claim(
            job_id, token, worker_id, entry.request, attempts, entry.job.timestamps.received_at
        )

    def _owned(self, claim: Claim) -> _Entry | None:
        flight = self._flights.get(claim.token)
        entry = self._live(claim.job_id)
        if flight is None or flight.worker_id != claim.worker_id or entry is None:
            return None
        return entry

    async def started(self, claim: Claim, at: datetime) -> None:
        entry = self._owned(claim)
        if entry is not None and entry.job.status is JobStatus.RUNNING:
            stamps = entry.job.timestamps.model_copy(update={"started_at": at})
            entry.job = entry.job.model_copy(update={"timestamps": stamps})
            self._touch(entry)

    async def progress(self, claim: Claim, progress: Progress) -> None:
        entry = self._owned(claim)
        if entry is not None and entry.job.status is JobStatus.RUNNING:
            self._update(entry, progress=progress)

    async def finish(self, claim: Claim, ending: Ending) -> bool:
        entry = self._owned(claim)
        if entry is None:
            return False
        self._flights.pop(claim.token, None)
        if entry.job.status is not JobStatus.RUNNING:  # cancelled meanwhile
            return False
        stamps = entry.job.timestamps.model_copy(
            update={
                "started_at": ending.started_at or entry.job.timestamps.started_at,
                "finished_at": ending.finished_at,
                "stored_at": utcnow(),
            }
        )
        self._update(
            entry, status=ending.status, result=ending.result, error=ending.error, timestamps=stamps
        )
        entry.request = None
        return True

    async def hand_back(self, claim: Claim) -> None:
        flight = self._flights.get(claim.token)
        if flight is not None and flight.worker_id == claim.worker_id:
            flight.lease_until = 0.0  # the next claim anywhere takes it over

    async def open_outbox(self) -> None:
        if self._outbox is None:
            self._outbox = {}

    async def ended(self, consumer: str, count: int, block_s: float) -> list[Ended]:
        if self._outbox is None:
            return []
        if next(self._free(consumer), None) is None:
            self._outbox_changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(block_s):
                    await self._outbox_changed.wait()
        now = self._now()
        found = []
        for token in list(itertools.islice(self._free(consumer), count)):
            self._taken[token] = (now, consumer)
            job = self._outbox[token][1]
            found.append(Ended(token, job.id, job))
        return found

    def _free(self, consumer: str) -> Iterator[str]:
        """Tokens waiting, or taken by another consumer silent for 10 x lease_s, in order."""
        assert self._outbox is not None
        horizon = self._now() - 10 * self.settings.lease_s
        for token in self._outbox:
            taken = self._taken.get(token)
            if taken is None or (taken[1] != consumer and taken[0] < horizon):
                yield token

    async def recorded(self, consumer: str, tokens: list[str]) -> None:
        for token in tokens:
            self._taken.pop(token, None)
            if self._outbox is not None:
                self._outbox.pop(token, None)

    async def backlog(self) -> Backlog:
        if not self._outbox:
            return Backlog(0, 0.0, self._dropped)
        oldest = next(iter(self._outbox.values()))[0]
        return Backlog(len(self._outbox), max(0.0, self._now() - oldest), self._dropped)

    async def cancellations(self) -> AsyncIterator[str]:
        queue: asyncio.Queue[str] = asyncio.Queue()
        self._control.add(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self._control.discard(queue)


@dataclass
class _Session:
    """One job's live-session channels in this process."""

    expires_at: float
    log: deque[tuple[int, Output]]
    inputs: deque[Command]
    changed: asyncio.Condition  # the log grew, or the input queue changed
    attached: int = 0


class MemorySessions(Sessions):
    """Live sessions in this process's memory (see session.py). A session's state lives
    while it is used, and at most `ttl_s` after its last use (the job's TTL), LOG_TTL_S once
    its run ended."""

    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._by_job: dict[str, _Session] = {}
        self._seq = itertools.count(1)
        self._purged_at = 0.0

    def _session(self, job_id: str) -> _Session:
        now = time.monotonic()
        if now - self._purged_at >= 1.0:
            self._purged_at = now
            expired = [j for j, s in self._by_job.items() if s.expires_at <= now]
            for gone in expired:
                if not self._by_job[gone].attached:
                    del self._by_job[gone]
        session = self._by_job.get(job_id)
        if session is None:
            session = _Session(now + self.ttl_s, deque(), deque(), asyncio.Condition())
            self._by_job[job_id] = session
        return session

    def _touch(self, session: _Session, ttl_s: float | None = None) -> None:
        session.expires_at = time.monotonic() + (self.ttl_s if ttl_s is None else ttl_s)

    async def send(self, job_id: str, command: Command) -> None:
        session = self._session(job_id)
        async with session.changed:
            await session.changed.wait_for(lambda: len(session.inputs) < MAX_PENDING_INPUTS)
            session.inputs.append(command)
            self._touch(session)
            session.changed.notify_all()

    async def read(self, job_id: str, cursor: str, timeout_s: float) -> tuple[list[Output], str]:
        session = self._session(job_id)
        after = int(cursor) if cursor != START else 0

        def fresh() -> list[tuple[int, Output]]:
            return [(seq, entry) for seq, entry in session.log if seq > after]

        async with session.changed:
            found = fresh()
            if not found and timeout_s > 0:
                # asyncio.timeout, not wait_for: Python 3.11's wait_for can swallow a
                # cancellation that lands as the wait ends, and a reader must stop then
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(timeout_s):
                        await session.changed.wait_for(lambda: bool(fresh()))
                found = fresh()
        if not found:
            return [], cursor
        return [entry for _, entry in found], str(found[-1][0])

    @contextlib.asynccontextmanager
    async def _attach(self, job_id: str) -> AsyncIterator[None]:
        session = self._session(job_id)
        session.attached += 1
        try:
            yield
        finally:
            session.attached -= 1
            self._touch(session, max(session.expires_at - time.monotonic(), LOG_TTL_S))

    def attach(self, job_id: str) -> AbstractAsyncContextManager[None]:
        return self._attach(job_id)

    async def begin(self, job_id: str) -> None:
        session = self._session(job_id)
        session.log.clear()
        self._touch(session)

    async def publish(self, job_id: str, entries: list[Output]) -> None:
        session = self._session(job_id)
        async with session.changed:
            session.log.extend((next(self._seq), entry) for entry in entries)
            self._touch(session)
            session.changed.notify_all()

    async def receive(
        self, job_id: str, cursor: str, timeout_s: float
    ) -> tuple[Command | None, str]:
        # In one process a command is taken and returned with no await between: the
        # queue itself is the cursor.
        session = self._session(job_id)
        async with session.changed:
            if not session.inputs:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(timeout_s):
                        await session.changed.wait_for(lambda: bool(session.inputs))
            if not session.inputs:
                return None, cursor
            command = session.inputs.popleft()
            session.changed.notify_all()  # room for a waiting sender
            return command, cursor

    async def attached(self, job_id: str) -> bool:
        return self._session(job_id).attached > 0

    async def end(self, job_id: str) -> None:
        session = self._session(job_id)
        async with session.changed:
            session.inputs.clear()
            self._touch(session, LOG_TTL_S)
            session.changed.notify_all()
