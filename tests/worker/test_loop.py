"""The worker loop around its seam: a real in-memory store, a fake runner in place of the
sandbox. Deterministic: `process_one` claims one job and runs it to its end (burst mode)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from onpyrunner.errors import BackendUnavailableError, SandboxError, UnknownLanguageError
from onpyrunner.judge import testsets
from onpyrunner.limits import Limits
from onpyrunner.models import (
    TERMINAL_STATUSES,
    Job,
    JobRequest,
    JobStatus,
    JudgeResult,
    Outcome,
    Progress,
    RunResult,
    TestCase,
    Usage,
    Verdict,
)
from onpyrunner.queue.memory import MemoryStore
from onpyrunner.queue.store import Claim, JobStore, LanguageInfo, new_job
from onpyrunner.settings import Settings
from onpyrunner.worker.execute import ProgressCallback
from onpyrunner.worker.loop import Worker
from onpyrunner.worker.session import SessionLink

USAGE = Usage(cpu_time_ms=1, wall_time_ms=1, memory_kb=1)
PATIENCE_S = 10.0


class FakeRunner:
    """Runs a "program" by what its source says: `print(x)`, `fail`, `crash`, `block`."""

    def __init__(self, languages: tuple[str, ...] = ("python",)) -> None:
        self._languages = [LanguageInfo(lang, lang.title(), "1.0") for lang in languages]
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.runs = 0
        self.session: SessionLink | None = None

    @property
    def languages(self) -> list[LanguageInfo]:
        return self._languages

    async def execute(
        self, request: JobRequest, on_progress: ProgressCallback, session: SessionLink | None
    ) -> RunResult | JudgeResult:
        self.runs += 1
        self.session = session
        source = request.source_code
        if source == "fail":
            raise SandboxError("nsjail could not start the sandbox")
        if source == "crash":
            raise RuntimeError("a bug in the service")
        if source == "unknown":
            raise UnknownLanguageError(request.language, ["python"])
        if source == "block":
            self.started.set()
            await self.release.wait()
        if request.test_cases is not None:
            for done in range(1, len(request.test_cases) + 1):
                await on_progress(Progress(done=done, total=len(request.test_cases)))
            return JudgeResult(
                verdict=Verdict.ACCEPTED,
                passed=len(request.test_cases),
                total=len(request.test_cases),
                score=100.0,
                usage=USAGE,
                tests=[],
            )
        return RunResult(
            outcome=Outcome.SUCCESS,
            stdout=source.removeprefix("print(").removesuffix(")") + "\n",
            stderr="",
            exit_code=0,
            signal=None,
            usage=USAGE,
        )


@pytest.fixture
async def store() -> AsyncIterator[MemoryStore]:
    memory = MemoryStore(Settings(lease_s=30.0))
    await memory.open()
    yield memory
    await memory.close()


def make_worker(store: JobStore, runner: FakeRunner, concurrency: int = 1) -> Worker:
    return Worker(store, runner, Settings(lease_s=30.0), concurrency, worker_id="test-worker")


async def submit(store: JobStore, source: str, **fields: object) -> str:
    request = JobRequest(language="python", source_code=source, limits=Limits(), **fields)
    job = new_job(request)
    await store.submit(job, request)
    return job.id


async def test_process_one_runs_a_job_and_stores_its_result(store: MemoryStore) -> None:
    job_id = await submit(store, "print(42)")
    worker = make_worker(store, FakeRunner())
    assert await worker.process_one(block_s=1.0)
    job = await store.get(job_id)
    assert job is not None and job.status is JobStatus.COMPLETED
    assert isinstance(job.result, RunResult) and job.result.stdout == "42\n"
    assert job.attempts == 1 and job.timestamps.started_at is not None
    assert worker.inflight == {}


async def test_process_one_is_false_when_no_job_comes(store: MemoryStore) -> None:
    assert not await make_worker(store, FakeRunner()).process_one(block_s=0.05)


async def test_burst_drains_the_queue_in_order(store: MemoryStore) -> None:
    ids = [await submit(store, f"print({i})") for i in range(5)]
    worker = make_worker(store, FakeRunner())
    while await worker.process_one(block_s=0.05):
        pass
    for i, job_id in enumerate(ids):
        job = await store.get(job_id)
        assert job is not None and isinstance(job.result, RunResult)
        assert job.result.stdout == f"{i}\n"


async def test_a_sandbox_failure_ends_the_job_failed_with_its_reason(store: MemoryStore) -> None:
    job_id = await submit(store, "fail")
    await make_worker(store, FakeRunner()).process_one(block_s=1.0)
    job = await store.get(job_id)
    assert job is not None
    assert (job.status, job.error) == (JobStatus.FAILED, "nsjail could not start the sandbox")


async def test_a_bug_ends_the_job_failed_as_an_internal_error_and_the_worker_lives_on(
    store: MemoryStore,
) -> None:
    bad = await submit(store, "crash")
    good = await submit(store, "print(1)")
    worker = make_worker(store, FakeRunner())
    assert await worker.process_one(block_s=1.0)
    assert await worker.process_one(block_s=1.0)
    failed, completed = await store.get(bad), await store.get(good)
    assert failed is not None and failed.error is not None
    assert failed.status is JobStatus.FAILED and failed.error.startswith("internal error")
    assert completed is not None and completed.status is JobStatus.COMPLETED


async def test_a_job_of_a_language_the_runner_lacks_is_handed_back_not_failed(
    store: MemoryStore,
) -> None:
    job_id = await submit(store, "unknown")
    await make_worker(store, FakeRunner()).process_one(block_s=1.0)
    job = await store.get(job_id)
    assert job is not None and job.status is JobStatus.RUNNING  # another worker takes it
    got = await store.claim("another", frozenset({"python"}), 1.0)
    assert got is not None and (got.job_id, got.attempts) == (job_id, 2)


async def test_a_worker_claims_only_the_languages_its_runner_has(store: MemoryStore) -> None:
    request = JobRequest(language="java", source_code="print(1)", limits=Limits())
    java = new_job(request)
    await store.submit(java, request)
    assert not await make_worker(store, FakeRunner(("python",))).process_one(block_s=0.05)
    assert await make_worker(store, FakeRunner(("java",))).process_one(block_s=1.0)


async def test_judge_progress_is_stored_as_the_cases_finish(store: MemoryStore) -> None:
    cases = [TestCase(stdin="", expected_stdout="1\n")] * 3
    job_id = await submit(store, "print(1)", test_cases=cases)
    seen: list[Progress] = []
    async with store.watch(job_id) as watch:
        worker = make_worker(store, FakeRunner())
        task = asyncio.create_task(worker.process_one(block_s=1.0))
        while True:  # until the job ends: its end is a change too, so no wait outlasts it
            assert await watch.changed(PATIENCE_S), "the job stopped changing"
            job = await store.get(job_id)
            if job is not None and job.progress is not None and job.progress not in seen:
                seen.append(job.progress)
            if job is not None and job.status in TERMINAL_STATUSES:
                break
        await task
    job = await store.get(job_id)
    assert job is not None and isinstance(job.result, JudgeResult)
    assert job.progress == Progress(done=3, total=3)
    assert seen and seen[-1] == Progress(done=3, total=3)


async def test_a_running_job_cancelled_by_its_user_is_stopped(store: MemoryStore) -> None:
    runner = FakeRunner()
    job_id = await submit(store, "block")
    worker = make_worker(store, runner)
    worker.start()
    try:
        await asyncio.wait_for(runner.started.wait(), PATIENCE_S)
        cancelled = await store.cancel(job_id)
        assert cancelled.status is JobStatus.CANCELLED
        async with store.watch(job_id):
            loop = asyncio.get_running_loop()
            deadline = loop.time() + PATIENCE_S
            while job_id in worker.inflight:  # the listener stops the run
                assert loop.time() < deadline, "the run was not stopped"
                await asyncio.sleep(0.01)
    finally:
        runner.release.set()
        await worker.drain(grace_s=1.0)
    job = await store.get(job_id)
    assert job is not None and job.status is JobStatus.CANCELLED


async def test_drain_lets_jobs_in_flight_finish_within_the_grace(store: MemoryStore) -> None:
    runner = FakeRunner()
    job_id = await submit(store, "block")
    worker = make_worker(store, runner)
    worker.start()
    await asyncio.wait_for(runner.started.wait(), PATIENCE_S)
    draining = asyncio.create_task(worker.drain(grace_s=PATIENCE_S))
    runner.release.set()
    await asyncio.wait_for(draining, PATIENCE_S * 2)
    job = await store.get(job_id)
    assert job is not None and job.status is JobStatus.COMPLETED
    assert (await store.stats()).workers_alive == 0


async def test_drain_hands_back_a_job_that_outlives_the_grace(store: MemoryStore) -> None:
    runner = FakeRunner()
    job_id = await submit(store, "block")
    worker = make_worker(store, runner)
    worker.start()
    await asyncio.wait_for(runner.started.wait(), PATIENCE_S)
    await worker.drain(grace_s=0.05)
    got = await store.claim("next", frozenset({"python"}), 1.0)  # handed back: at once
    assert got is not None and got.job_id == job_id


class FlakyStore(MemoryStore):
    """A store whose backend is down for the first few claims."""

    def __init__(self, settings: Settings, failures: int) -> None:
        super().__init__(settings)
        self.failures = failures

    async def claim(
        self, worker_id: str, languages: frozenset[str], block_s: float
    ) -> Claim | None:
        if self.failures > 0:
            self.failures -= 1
            raise BackendUnavailableError("Redis is unavailable: connection refused")
        return await super().claim(worker_id, languages, block_s)


async def test_the_backend_being_down_never_stops_the_worker() -> None:
    store = FlakyStore(Settings(lease_s=30.0), failures=3)
    runner = FakeRunner()
    job_id = await submit(store, "print(7)")
    worker = make_worker(store, runner)
    worker.start()
    try:
        async with store.watch(job_id) as watch:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + PATIENCE_S
            while (job := await store.get(job_id)) is not None and job.result is None:
                assert loop.time() < deadline, "the job never ran"
                await watch.changed(deadline - loop.time())
        assert worker.alive
    finally:
        await worker.drain(grace_s=1.0)
    assert store.failures == 0 and runner.runs == 1


async def test_a_live_job_gets_a_session_whose_idle_end_cancels_it_with_the_reason(
    store: MemoryStore,
) -> None:
    job_id = await submit(store, "block", interactive=True)
    runner = FakeRunner()
    worker = make_worker(store, runner)
    worker.start()
    try:
        await asyncio.wait_for(runner.started.wait(), PATIENCE_S)
        assert runner.session is not None and runner.session.job_id == job_id
        run = worker.inflight[job_id].task
        await runner.session.on_idle()
        job = await asyncio.wait_for(_until_finished(store, job_id), PATIENCE_S)
        assert job.status is JobStatus.CANCELLED
        assert job.error == "the session was idle: no client attached for 30 s"
        await asyncio.wait_for(asyncio.gather(run, return_exceptions=True), PATIENCE_S)
        assert run.done() and not runner.release.is_set()  # stopped, not released
    finally:
        await worker.drain(1.0)


async def test_a_batch_job_gets_no_session(store: MemoryStore) -> None:
    await submit(store, "print(1)")
    runner = FakeRunner()
    await make_worker(store, runner).process_one(block_s=1.0)
    assert runner.runs == 1 and runner.session is None


async def _until_finished(store: MemoryStore, job_id: str) -> Job:
    async with store.watch(job_id) as watch:
        while True:
            job = await store.get(job_id)
            assert job is not None
            if job.status in TERMINAL_STATUSES:
                return job
            await watch.changed(1.0)


async def test_a_job_naming_a_test_set_runs_with_its_cases_read_once(store: MemoryStore) -> None:
    cases = [TestCase(stdin=f"{i}\n", expected_stdout=f"{i}\n") for i in range(3)]
    set_id, data = testsets.encode(cases)
    await store.put_test_set(set_id, data, 60)
    ids = [await submit(store, "print(1)", test_set=set_id) for _ in range(2)]
    worker = make_worker(store, FakeRunner())
    assert await worker.process_one(block_s=1.0)
    await store.put_test_set(set_id, "[]", 60)  # ...so the second job sees the same cases
    assert await worker.process_one(block_s=1.0)
    for job_id in ids:
        job = await store.get(job_id)
        assert job is not None and job.judge and isinstance(job.result, JudgeResult)
        assert job.result.total == 3


async def test_a_job_whose_test_set_expired_fails_with_the_reason(store: MemoryStore) -> None:
    set_id = "sha256:" + "00" * 32
    job_id = await submit(store, "print(1)", test_set=set_id)
    await make_worker(store, FakeRunner()).process_one(block_s=1.0)
    job = await store.get(job_id)
    assert job is not None and job.status is JobStatus.FAILED
    assert job.error == f"the test set {set_id} expired before the job ran"


async def test_a_job_cancelled_as_it_is_claimed_is_stopped_before_it_runs(
    store: MemoryStore,
) -> None:
    # The cancel reaches the worker's listener after the store gave the job to the worker
    # and before the worker counted it in flight: once, such a job ran all of its 1,000
    # cases, and the jobs behind it waited for them.
    runner = FakeRunner()
    job_id = await submit(store, "block")
    worker = make_worker(store, runner)
    claim = store.claim

    async def claim_then_cancel(*args: object, **kwargs: object) -> Claim | None:
        got = await claim(*args, **kwargs)  # type: ignore[arg-type]
        if got is not None:
            await store.cancel(got.job_id)
            # The memory store handed the cancel to the listener's queue at once; the
            # listener task, ready since, takes it within these turns of the loop.
            for _ in range(10):
                await asyncio.sleep(0)
        return got

    store.claim = claim_then_cancel  # type: ignore[method-assign]
    worker.start()
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + PATIENCE_S
        while (job := await store.get(job_id)) is None or job.status is JobStatus.PENDING:
            assert loop.time() < deadline
            await asyncio.sleep(0.01)
        while job_id in worker.inflight or runner.runs:
            assert loop.time() < deadline, "the claimed job was not stopped"
            assert runner.runs == 0, "the cancelled job ran"
            await asyncio.sleep(0.01)
    finally:
        runner.release.set()
        await worker.drain(grace_s=1.0)
    assert runner.runs == 0  # stopped before it ran
    job = await store.get(job_id)
    assert job is not None and job.status is JobStatus.CANCELLED
