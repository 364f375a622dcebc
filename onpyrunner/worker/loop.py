"""The worker loop: claim -> execute -> report, with heartbeats, cancellation and drain.

A Worker runs `concurrency` claim loops over one sandbox pool. Each loop takes a job,
runs it (execute.py), and stores the ending; a heartbeat keeps its claims' leases and
says it is alive; a listener stops the runs of cancelled jobs. `stop()` ends the claiming;
`drain()` waits for the jobs in flight up to a grace period and hands back the rest.
The backend being down never crashes a worker: it backs off and tries again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from dataclasses import dataclass

from onpyrunner.errors import (
    BackendUnavailableError,
    JobFinishedError,
    JobNotFoundError,
    SandboxError,
    UnknownLanguageError,
)
from onpyrunner.judge import testsets
from onpyrunner.metrics import Metrics
from onpyrunner.models import JobRequest, JobStatus, JudgeResult, Progress, RunResult
from onpyrunner.queue.store import Claim, Ending, JobStore, utcnow
from onpyrunner.settings import Settings
from onpyrunner.worker.execute import Runner
from onpyrunner.worker.session import SessionLink

log = logging.getLogger(__name__)

CLAIM_BLOCK_S = 1.0
BACKOFF_MAX_S = 5.0
#: How many cancellations of jobs not (yet) in flight here a worker remembers.
EARLY_CANCELS = 4096


@dataclass
class _InFlight:
    claim: Claim
    task: asyncio.Task[None]
    cancelled_by_user: bool = False


def new_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class Worker:
    """Claims and runs jobs until stopped."""

    def __init__(
        self,
        store: JobStore,
        runner: Runner,
        settings: Settings,
        concurrency: int,
        metrics: Metrics | None = None,
        worker_id: str | None = None,
    ) -> None:
        self.store = store
        self.runner = runner
        self.settings = settings
        self.concurrency = concurrency
        self.metrics = metrics or Metrics()
        self.id = worker_id or new_worker_id()
        self.inflight: dict[str, _InFlight] = {}
        #: Cancellations heard for jobs not in flight here (the last EARLY_CANCELS, oldest
        #: first): a job claimed just before its cancel, whose flight was not yet
        #: registered when the cancel came, is stopped by this record when it starts.
        self._heard_cancels: dict[str, None] = {}
        self._stopping = asyncio.Event()
        self._closing = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.languages = runner.languages
        self.language_ids = frozenset(lang.id for lang in self.languages)
        self.test_sets = testsets.Cache()

    # --- life ------------------------------------------------------------------------
    def start(self) -> None:
        """Start the claim loops, the heartbeat and the cancellation listener."""
        self._tasks = [
            asyncio.create_task(self._heartbeat_loop(), name=f"{self.id}-heartbeat"),
            asyncio.create_task(self._cancel_loop(), name=f"{self.id}-cancel"),
        ]
        for i in range(self.concurrency):
            self._tasks.append(asyncio.create_task(self._claim_loop(), name=f"{self.id}-claim-{i}"))

    @property
    def alive(self) -> bool:
        return bool(self._tasks) and not any(t.done() for t in self._tasks)

    def stop(self) -> None:
        """Stop taking new jobs."""
        self._stopping.set()

    async def drain(self, grace_s: float) -> None:
        """Stop, let the jobs in flight finish within grace_s, hand back the others."""
        self.stop()
        claim_loops = self._tasks[2:]
        if claim_loops:
            _, late = await asyncio.wait(claim_loops, timeout=grace_s)
            for flight in list(self.inflight.values()):
                flight.task.cancel()
            if late:
                await asyncio.wait(late, timeout=10)
        self._closing.set()  # the heartbeat and the listener end at their next step
        for task in self._tasks[:2]:
            task.cancel()
        await asyncio.wait(self._tasks, timeout=10)
        with contextlib.suppress(BackendUnavailableError):
            await self.store.forget_worker(self.id)

    # --- loops -------------------------------------------------------------------------
    async def _claim_loop(self) -> None:
        delay = 0.1
        while not self._stopping.is_set():
            try:
                got = await self.process_one(CLAIM_BLOCK_S)
                delay = 0.1
            except Exception as e:  # the backend down, or a bug: never let the loop die
                if isinstance(e, BackendUnavailableError):
                    log.warning("worker %s: %s; retrying in %.1f s", self.id, e, delay)
                else:
                    log.exception("worker %s: claiming failed; retrying in %.1f s", self.id, delay)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._stopping.wait()
                delay = min(delay * 2, BACKOFF_MAX_S)
                continue
            if not got:
                await asyncio.sleep(0)

    async def _heartbeat_loop(self) -> None:
        interval = self.settings.lease_s / 3
        while not self._closing.is_set():
            claims = [f.claim for f in self.inflight.values()]
            try:
                await self.store.heartbeat(self.id, self.languages, claims)
            except Exception as e:
                log.warning("worker %s: heartbeat failed: %s", self.id, e)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    await self._closing.wait()

    async def _cancel_loop(self) -> None:
        while not self._closing.is_set():
            try:
                async for job_id in self.store.cancellations():
                    flight = self.inflight.get(job_id)
                    if flight is not None:
                        flight.cancelled_by_user = True
                        flight.task.cancel()
                    else:
                        self._heard_cancels[job_id] = None
                        if len(self._heard_cancels) > EARLY_CANCELS:
                            del self._heard_cancels[next(iter(self._heard_cancels))]
            except Exception:
                log.exception("worker %s: cancellation listener failed; restarting", self.id)
                await asyncio.sleep(1.0)

    # --- one job -------------------------------------------------------------------------
    async def process_one(self, block_s: float) -> bool:
        """Claim one job and run it to its end; False when none came within block_s."""
        claim = await self.store.claim(self.id, self.language_ids, block_s)
        if claim is None:
            return False
        self.metrics.queue_wait.observe(max(0.0, (utcnow() - claim.received_at).total_seconds()))
        task = asyncio.create_task(self._run(claim), name=f"job-{claim.job_id}")
        self.inflight[claim.job_id] = _InFlight(claim, task)
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            task.cancel()  # the loop itself is being cancelled: so is the job's run
            with contextlib.suppress(asyncio.CancelledError):
                await task
        finally:
            self.inflight.pop(claim.job_id, None)
        return True

    async def _run(self, claim: Claim) -> None:
        started = utcnow()
        try:
            if self._heard_cancels.pop(claim.job_id, 0) is None:  # cancelled as it was claimed
                flight = self.inflight.get(claim.job_id)
                if flight is not None:
                    flight.cancelled_by_user = True
                raise asyncio.CancelledError
            with contextlib.suppress(BackendUnavailableError):
                await self.store.started(claim, started)
            request = await self._with_test_set(claim.request)
            if request is None:
                reason = f"the test set {claim.request.test_set} expired before the job ran"
                ending = Ending(JobStatus.FAILED, None, reason, started, utcnow())
            else:
                result = await self.runner.execute(
                    request, lambda p: self._progress(claim, p), self._session_link(claim)
                )
                ending = Ending(JobStatus.COMPLETED, result, None, started, utcnow())
        except asyncio.CancelledError:
            flight = self.inflight.get(claim.job_id)
            if flight is not None and flight.cancelled_by_user:
                ending = Ending(JobStatus.FAILED, None, "cancelled", started, utcnow())
            else:
                await self._hand_back(claim)
                raise
        except UnknownLanguageError as e:  # never routed here; another worker may have it
            log.error("job %s: %s; handed back", claim.job_id, e)
            await self._hand_back(claim)
            return
        except BackendUnavailableError as e:  # reading its test set: another try later
            log.error("job %s: the store is down (%s); handed back", claim.job_id, e)
            await self._hand_back(claim)
            return
        except SandboxError as e:
            log.error("job %s failed in the sandbox: %s", claim.job_id, e)
            ending = Ending(JobStatus.FAILED, None, str(e), started, utcnow())
        except Exception as e:
            log.exception("job %s: internal error", claim.job_id)
            ending = Ending(JobStatus.FAILED, None, f"internal error: {e!r}", started, utcnow())
        await self._report(claim, ending)

    async def _with_test_set(self, request: JobRequest) -> JobRequest | None:
        """The request with its stored test set's cases (read once per worker and kept);
        None when the set expired meanwhile.

        Raises:
            BackendUnavailableError: the store is down.
        """
        if request.test_set is None:
            return request
        ttl_s = self.settings.test_set_ttl_s
        cases = await self.test_sets.cases(self.store, request.test_set, ttl_s)
        if cases is None:
            return None
        return request.model_copy(update={"test_cases": cases})

    def _session_link(self, claim: Claim) -> SessionLink | None:
        """Where a live job's output and input go: the store's session channels."""
        if not claim.request.live:
            return None
        idle_s = self.settings.session_idle_s

        async def idle() -> None:
            with contextlib.suppress(JobFinishedError, JobNotFoundError, BackendUnavailableError):
                await self.store.cancel(
                    claim.job_id, f"the session was idle: no client attached for {idle_s:g} s"
                )

        return SessionLink(self.store.sessions, claim.job_id, idle_s, idle)

    async def _progress(self, claim: Claim, progress: Progress) -> None:
        with contextlib.suppress(BackendUnavailableError):
            await self.store.progress(claim, progress)

    async def _hand_back(self, claim: Claim) -> None:
        with contextlib.suppress(BackendUnavailableError):
            await self.store.hand_back(claim)

    async def _report(self, claim: Claim, ending: Ending) -> None:
        """Store the ending, retrying while the backend is down (the lease bounds it)."""
        delay = 0.1
        deadline = asyncio.get_running_loop().time() + self.settings.lease_s
        while True:
            try:
                stored = await self.store.finish(claim, ending)
                break
            except BackendUnavailableError as e:
                if asyncio.get_running_loop().time() + delay > deadline:
                    log.error("job %s: could not store its result: %s", claim.job_id, e)
                    return
                await asyncio.sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX_S)
        if stored:
            self._count(ending)

    def _count(self, ending: Ending) -> None:
        outcome = ""
        if isinstance(ending.result, RunResult):
            outcome = ending.result.outcome.value
        elif isinstance(ending.result, JudgeResult):
            outcome = ending.result.verdict.value
        self.metrics.finished.labels(ending.status.value, outcome).inc()
        if ending.started_at is not None and ending.finished_at is not None:
            self.metrics.run_duration.observe(
                (ending.finished_at - ending.started_at).total_seconds()
            )
