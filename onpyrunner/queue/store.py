"""The job store interface: what the API and the workers need from a queue backend.

Both backends (memory.py, redis.py) give the same guarantees, checked by one contract
test suite:
- submit is atomic and refuses work past `max_pending_jobs` (unfinished jobs); a batch
  is submitted whole or not at all;
- a job goes only to a worker that offers its language (each worker claims from the
  languages it has; a job waits for such a worker);
- the jobs of a batch wait in a lane of their own beside single jobs; a worker takes a
  single job first, except on one claim of every BATCH_TURN, where it takes a batch job
  first (FIFO within each lane);
- delivery is at-least-once: a claimed job whose worker stops heartbeating for
  `lease_s` is delivered again; after `max_deliveries` it ends FAILED with a reason;
- a job is finished once: only the worker holding its current claim can store a result;
- every state change is announced to watchers at once; watchers re-read the job, so a
  missed announcement delays nothing but the next read;
- records expire `job_ttl_s` after their last change;
- test sets are kept by id for their TTL, renewed by each store and each read that asks;
- every job that ends (finished by its worker, FAILED after too many deliveries, or
  cancelled) is also put, in the same step, on the outbox of ended jobs for the history
  (when the history is on): delivered at least once to one of the history writers, until
  acknowledged; bounded by `history_backlog`, past which the oldest are dropped and counted.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

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
from onpyrunner.queue.session import Sessions

#: Reason stored on a job delivered too many times.
TOO_MANY_DELIVERIES = (
    "delivered {n} times without finishing: the workers running it stopped "
    "(killed or lost) each time"
)


#: Of every BATCH_TURN claims of a worker, one takes a batch job first when one waits;
#: the others take a single job first. So a batch of any size delays a single job by at
#: most the batch jobs already running, and single jobs never starve batches.
BATCH_TURN = 4


def queue_of(request: JobRequest) -> str:
    """The queue a job waits in: its language's, or that language's batch lane."""
    return f"{request.language}:batch" if request.batch_id is not None else request.language


def claim_order(languages: frozenset[str], batch_first: bool) -> list[str]:
    """The queues a worker of these languages takes from, in the order it prefers them."""
    singles = sorted(languages)
    batches = [f"{language}:batch" for language in singles]
    return batches + singles if batch_first else singles + batches


def utcnow() -> datetime:
    return datetime.now(UTC)


def cut(text: str, max_bytes: int) -> str:
    """text cut to at most max_bytes of UTF-8, at a character boundary."""
    if len(text) * 4 <= max_bytes:
        return text
    return text.encode()[:max_bytes].decode(errors="ignore")


def input_facts(request: JobRequest, keep_bytes: int | None = None) -> InputFacts:
    """The facts of a request's input its history keeps: the source's digest and size, and
    with keep_bytes the source and stdin cut to that many bytes each."""
    source = request.source_code.encode()
    facts = InputFacts(source_sha256=hashlib.sha256(source).hexdigest(), source_bytes=len(source))
    if keep_bytes is None:
        return facts
    return facts.model_copy(
        update={
            "source_code": cut(request.source_code, keep_bytes),
            "stdin": cut(request.stdin, keep_bytes),
        }
    )


def new_job(request: JobRequest, origin: Origin = NATIVE, keep_bytes: int | None = None) -> Job:
    """A fresh PENDING job for a validated request (keep_bytes: see input_facts)."""
    return Job(
        id=str(uuid.uuid4()),
        status=JobStatus.PENDING,
        language=request.language,
        limits=request.limits,
        judge=request.test_cases is not None or request.test_set is not None,
        interactive=request.interactive,
        stream=request.stream,
        timestamps=Timestamps(received_at=utcnow()),
        origin=origin,
        input=input_facts(request, keep_bytes),
    )


@dataclass(frozen=True)
class Claim:
    """A job delivered to a worker: run it, then finish or hand it back."""

    job_id: str
    token: str  # the backend's handle of this delivery (a stream entry id in Redis)
    worker_id: str
    request: JobRequest
    attempts: int
    received_at: datetime


@dataclass(frozen=True)
class QueueStats:
    """Counts for health and metrics."""

    pending: int
    running: int
    workers_alive: int


@dataclass(frozen=True)
class LanguageInfo:
    """A runtime some worker offers."""

    id: str
    name: str
    version: str
    #: Packages a profile ships (python-sci): distribution name -> version.
    packages: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Ending:
    """What a worker stores when a job ends."""

    status: JobStatus  # COMPLETED or FAILED
    result: RunResult | JudgeResult | None
    error: str | None
    started_at: datetime | None
    finished_at: datetime | None


@dataclass(frozen=True)
class Ended:
    """A job that ended, taken from the outbox for its history row: acknowledge it (by
    token) once the row is written. `job` is None when its record expired first."""

    token: str
    job_id: str
    job: Job | None


@dataclass(frozen=True)
class Backlog:
    """The outbox of ended jobs: how many wait for the history, the age of the oldest, and
    how many were dropped (the bound passed) since the store began counting."""

    waiting: int
    oldest_age_s: float
    dropped: int


class Watch:
    """Announcements of changes to one job (or to several: `changed_ids` then says which
    changed since the caller last emptied it)."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[None] = asyncio.Queue()
        self.changed_ids: set[str] = set()

    def notify(self, job_id: str | None = None) -> None:
        """The job changed."""
        if job_id is not None:
            self.changed_ids.add(job_id)
        self._queue.put_nowait(None)

    def take_changed(self) -> set[str]:
        """The jobs that changed since the last call (of a watch of several), and every
        announcement so far taken as seen."""
        while not self._queue.empty():
            self._queue.get_nowait()
        changed, self.changed_ids = self.changed_ids, set()
        return changed

    async def changed(self, timeout_s: float) -> bool:
        """Wait for the next change; False when timeout_s passed without one.

        (asyncio.timeout, not wait_for: on Python 3.11, wait_for can swallow a cancellation
        that lands as its wait ends, and a cancelled follower would then wait on.)
        """
        try:
            async with asyncio.timeout(timeout_s):
                await self._queue.get()
        except TimeoutError:
            return False
        return True


class Watchers:
    """The watches of this process, by job: a backend announces, watches wake."""

    def __init__(self) -> None:
        self._by_job: dict[str, set[Watch]] = {}

    def announce(self, job_id: str) -> None:
        for watch in self._by_job.get(job_id, ()):
            watch.notify(job_id)

    @asynccontextmanager
    async def watch_many(self, job_ids: list[str]) -> AsyncIterator[Watch]:
        """One watch of several jobs."""
        watch = Watch()
        for job_id in job_ids:
            self._by_job.setdefault(job_id, set()).add(watch)
        try:
            yield watch
        finally:
            for job_id in job_ids:
                watches = self._by_job.get(job_id)
                if watches is not None:
                    watches.discard(watch)
                    if not watches:
                        del self._by_job[job_id]

    @asynccontextmanager
    async def watch(self, job_id: str) -> AsyncIterator[Watch]:
        watch = Watch()
        self._by_job.setdefault(job_id, set()).add(watch)
        try:
            yield watch
        finally:
            watches = self._by_job.get(job_id)
            if watches is not None:
                watches.discard(watch)
                if not watches:
                    del self._by_job[job_id]


class JobStore(ABC):
    """A queue backend. Open it before use and close it after."""

    #: The live sessions' channels (queue/session.py), on this backend.
    sessions: Sessions

    # --- life ------------------------------------------------------------------------
    @abstractmethod
    async def open(self) -> None:
        """Connect, prepare structures."""

    @abstractmethod
    async def close(self) -> None:
        """Release connections and background tasks."""

    @abstractmethod
    async def ping(self) -> None:
        """Raises BackendUnavailableError when the backend does not answer."""

    # --- the API's side -----------------------------------------------------------------
    @abstractmethod
    async def submit(self, job: Job, request: JobRequest) -> None:
        """Store a new PENDING job and queue it.

        Raises:
            QueueFullError: `max_pending_jobs` unfinished jobs are already queued.
            BackendUnavailableError: the backend is down.
        """

    @abstractmethod
    async def submit_many(self, jobs: list[tuple[Job, JobRequest]]) -> None:
        """Store and queue several new jobs: all of them, or none.

        Raises:
            QueueFullError: the queue cannot take them all.
            BackendUnavailableError: the backend is down.
        """

    @abstractmethod
    async def get(self, job_id: str) -> Job | None:
        """The job, or None when unknown or expired."""

    @abstractmethod
    async def put_test_set(self, set_id: str, data: str, ttl_s: float) -> None:
        """Keep a test set (its JSON) under its id (its content's hash) for ttl_s; storing
        the same id again renews its TTL.

        Raises:
            BackendUnavailableError: the backend is down.
        """

    @abstractmethod
    async def get_test_set(self, set_id: str, ttl_s: float | None = None) -> str | None:
        """A test set's JSON, or None when unknown or expired; with ttl_s, its TTL starts
        again (a job that uses it keeps it for its own life).

        Raises:
            BackendUnavailableError: the backend is down.
        """

    @abstractmethod
    async def cancel(self, job_id: str, reason: str | None = None) -> Job:
        """Cancel a PENDING or RUNNING job; returns it as CANCELLED (with reason as its
        error, when given).

        Raises:
            JobNotFoundError: unknown or expired.
            JobFinishedError: it already finished.
        """

    @abstractmethod
    async def delete(self, job_id: str) -> bool:
        """Remove a finished job's record (COMPLETED, FAILED or CANCELLED) at once, and
        announce it. False, and nothing removed, when the job is unknown, expired or not
        finished."""

    @abstractmethod
    def watch(self, job_id: str) -> AbstractAsyncContextManager[Watch]:
        """Announcements of the job's changes, from the moment the context is entered."""

    @abstractmethod
    def watch_many(self, job_ids: list[str]) -> AbstractAsyncContextManager[Watch]:
        """Announcements of changes to any of the jobs (Watch.changed_ids says which)."""

    async def get_many(self, job_ids: list[str]) -> list[Job | None]:
        """The jobs (None for one unknown or expired), in order."""
        return [await self.get(job_id) for job_id in job_ids]

    @abstractmethod
    async def put_batch(self, batch_id: str, job_ids: list[str]) -> None:
        """Keep a batch's job ids for job_ttl_s (renewed by each read).

        Raises:
            BackendUnavailableError: the backend is down.
        """

    @abstractmethod
    async def get_batch(self, batch_id: str) -> list[str] | None:
        """A batch's job ids, or None when unknown or expired; the read renews its TTL.

        Raises:
            BackendUnavailableError: the backend is down.
        """

    @abstractmethod
    async def stats(self) -> QueueStats:
        """Pending and running jobs, live workers."""

    @abstractmethod
    async def languages(self) -> list[LanguageInfo]:
        """Runtimes offered by live workers."""

    # --- the workers' side ---------------------------------------------------------------
    @abstractmethod
    async def heartbeat(
        self, worker_id: str, languages: list[LanguageInfo], claims: list[Claim]
    ) -> None:
        """Say the worker is alive, what it runs, and keep its claims' leases."""

    @abstractmethod
    async def forget_worker(self, worker_id: str) -> None:
        """The worker stops: it no longer counts as alive."""

    @abstractmethod
    async def claim(
        self, worker_id: str, languages: frozenset[str], block_s: float
    ) -> Claim | None:
        """The next job in one of `languages` (the runtimes this worker has), RUNNING from
        now on, or None after block_s.

        Jobs whose worker went silent for `lease_s` come first. Jobs cancelled while
        pending, expired, or delivered too often are settled here and never returned.
        """

    @abstractmethod
    async def started(self, claim: Claim, at: datetime) -> None:
        """The program started running."""

    @abstractmethod
    async def progress(self, claim: Claim, progress: Progress) -> None:
        """Judge progress; announced to watchers."""

    @abstractmethod
    async def finish(self, claim: Claim, ending: Ending) -> bool:
        """Store the end of a claimed job. False if the claim is no longer this worker's
        (cancelled, or taken over after a lost lease): nothing is stored then."""

    @abstractmethod
    async def hand_back(self, claim: Claim) -> None:
        """Give an unfinished claim back at once (a worker stopping before it is done)."""

    @abstractmethod
    def cancellations(self) -> AsyncIterator[str]:
        """Ids of running jobs being cancelled, for workers to stop them."""

    # --- the history's side: the outbox of ended jobs ---------------------------------------
    @abstractmethod
    async def open_outbox(self) -> None:
        """Start putting ended jobs on the outbox (a history writer is about to read it).

        Raises:
            BackendUnavailableError: the backend is down.
        """

    @abstractmethod
    async def ended(self, consumer: str, count: int, block_s: float) -> list[Ended]:
        """Up to count ended jobs for consumer's history rows, or [] after block_s. Jobs
        taken by a consumer that did not acknowledge them for `lease_s` come first.

        Raises:
            BackendUnavailableError: the backend is down.
        """

    @abstractmethod
    async def recorded(self, consumer: str, tokens: list[str]) -> None:
        """Acknowledge ended jobs: their rows are written (or they are given up).

        Raises:
            BackendUnavailableError: the backend is down.
        """

    @abstractmethod
    async def backlog(self) -> Backlog:
        """The outbox's figures, for metrics.

        Raises:
            BackendUnavailableError: the backend is down.
        """
