"""The job store contract (queue/store.py), run directly on both backends: no HTTP, no
sandbox. The in-memory store in this process; the Redis store on the real Redis, under a
key prefix of this test's own."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from onpyrunner.errors import JobFinishedError, JobNotFoundError, QueueFullError
from onpyrunner.limits import Limits
from onpyrunner.models import (
    TERMINAL_STATUSES,
    Job,
    JobRequest,
    JobStatus,
    Origin,
    Progress,
    RunResult,
    Usage,
)
from onpyrunner.queue.memory import MemoryStore
from onpyrunner.queue.redis import RedisStore
from onpyrunner.queue.session import (
    MAX_PENDING_INPUTS,
    START,
    Command,
    CommandKind,
    Output,
    OutputKind,
    Sessions,
)
from onpyrunner.queue.store import (
    Backlog,
    Claim,
    Ended,
    Ending,
    JobStore,
    LanguageInfo,
    new_job,
)
from onpyrunner.settings import Settings
from tests.service import REDIS_URL, delete_prefix, unique_prefix

BACKENDS = ["memory", "redis"]
PYTHON = frozenset({"python"})
#: The lease of the tests about leases: short, so that one runs out quickly. Every other
#: test has a lease far longer than it takes, however loaded the machine (a job whose lease
#: ran out is rightly taken over by the next claim, which is not what they are about).
LEASE_S = 0.3
LONG_LEASE_S = 60.0
#: Bound on waiting for something that takes real time (a lease, a TTL) to pass.
PATIENCE_S = 10.0


def _settings(**changes: object) -> Settings:
    base: dict[str, object] = {
        "lease_s": LONG_LEASE_S,
        "max_deliveries": 3,
        "job_ttl_s": 60,
        "max_pending_jobs": 100,
        "redis_prefix": unique_prefix(),
    }
    base.update(changes)
    return Settings(**base)  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def open_store(backend: str, **changes: object) -> AsyncIterator[JobStore]:
    settings = _settings(**changes)
    store: JobStore = (
        MemoryStore(settings) if backend == "memory" else RedisStore(settings, REDIS_URL)
    )
    await store.open()
    try:
        yield store
    finally:
        await store.close()
        if backend == "redis":
            delete_prefix(REDIS_URL, settings.redis_prefix)


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest) -> AsyncIterator[JobStore]:
    async with open_store(str(request.param)) as opened:
        yield opened


@pytest.fixture(params=BACKENDS)
async def leased(request: pytest.FixtureRequest) -> AsyncIterator[JobStore]:
    """A store whose leases run out quickly."""
    async with open_store(str(request.param), lease_s=LEASE_S) as opened:
        yield opened


def request_of(code: str = "print(1)", language: str = "python") -> JobRequest:
    return JobRequest(language=language, source_code=code, limits=Limits())


async def submitted(store: JobStore, language: str = "python", code: str = "print(1)") -> Job:
    request = request_of(code, language)
    job = new_job(request)
    await store.submit(job, request)
    return job


def ending(status: JobStatus = JobStatus.COMPLETED, stdout: str = "1\n") -> Ending:
    now = datetime.now(UTC)
    result = RunResult(
        outcome="SUCCESS",
        stdout=stdout,
        stderr="",
        exit_code=0,
        signal=None,
        usage=Usage(cpu_time_ms=1, wall_time_ms=2, memory_kb=3),
    )
    if status is JobStatus.FAILED:
        return Ending(status, None, "the sandbox failed", now, now)
    return Ending(status, result, None, now, now)


async def claim(
    store: JobStore, worker: str = "w1", languages: frozenset[str] = PYTHON, block_s: float = 2.0
) -> Claim:
    got = await store.claim(worker, languages, block_s)
    assert got is not None, "no job came"
    return got


async def claim_when_lease_passed(store: JobStore, worker: str) -> Claim:
    """The next claim of worker once some lease has run out: lease expiry is time passing,
    not an event, so this claims again (each claim blocks briefly) until one comes."""
    deadline = asyncio.get_running_loop().time() + PATIENCE_S
    while asyncio.get_running_loop().time() < deadline:
        got = await store.claim(worker, PYTHON, LEASE_S / 2)
        if got is not None:
            return got
    raise AssertionError(f"no lease ran out within {PATIENCE_S} s")


# --- submit and claim ----------------------------------------------------------------


async def test_a_submitted_job_is_pending_and_readable(store: JobStore) -> None:
    job = await submitted(store)
    read = await store.get(job.id)
    assert read is not None
    assert read.status is JobStatus.PENDING
    assert (read.language, read.limits, read.attempts) == ("python", Limits(), 0)


async def test_a_claimed_job_is_running_with_its_request_and_one_attempt(
    store: JobStore,
) -> None:
    job = await submitted(store, code="print(42)")
    got = await claim(store)
    assert (got.job_id, got.worker_id, got.attempts) == (job.id, "w1", 1)
    assert got.request.source_code == "print(42)"
    read = await store.get(job.id)
    assert read is not None and read.status is JobStatus.RUNNING
    assert read.timestamps.picked_up_at is not None


async def test_claim_gives_up_after_block_s_when_nothing_waits(store: JobStore) -> None:
    assert await store.claim("w1", PYTHON, 0.05) is None


async def test_jobs_are_claimed_in_the_order_they_were_submitted(store: JobStore) -> None:
    jobs = [await submitted(store, code=f"print({i})") for i in range(5)]
    claimed = [(await claim(store)).job_id for _ in jobs]
    assert claimed == [job.id for job in jobs]


async def test_a_job_goes_only_to_a_worker_that_has_its_language(store: JobStore) -> None:
    java = await submitted(store, language="java")
    python = await submitted(store, language="python")
    assert (await claim(store, "pythonist", PYTHON)).job_id == python.id
    assert await store.claim("pythonist", PYTHON, 0.05) is None  # the java job waits
    assert (await claim(store, "polyglot", frozenset({"java", "python"}))).job_id == java.id


async def test_a_job_submitted_while_a_worker_waits_wakes_it(store: JobStore) -> None:
    waiting = asyncio.create_task(store.claim("w1", PYTHON, 5.0))
    await asyncio.sleep(0)  # let the claim start waiting (ordering only; not a timed wait)
    job = await submitted(store)
    got = await asyncio.wait_for(waiting, 5.0)
    assert got is not None and got.job_id == job.id


# --- capacity ---------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
async def test_the_queue_refuses_jobs_past_its_capacity(backend: str) -> None:
    async with open_store(backend, max_pending_jobs=2) as store:
        await submitted(store)
        await submitted(store, language="c")  # capacity counts every language
        with pytest.raises(QueueFullError) as caught:
            await submitted(store)
        assert caught.value.limit == 2


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_batch_is_queued_whole_or_not_at_all(backend: str) -> None:
    async with open_store(backend, max_pending_jobs=3) as store:
        await submitted(store)
        batch = [(new_job(request_of()), request_of()) for _ in range(3)]
        with pytest.raises(QueueFullError):
            await store.submit_many(batch)
        assert [await store.get(job.id) for job, _ in batch] == [None, None, None]
        await store.submit_many(batch[:2])
        assert (await store.stats()).pending == 3


async def test_finished_jobs_free_their_place_in_the_queue(store: JobStore) -> None:
    await submitted(store)
    got = await claim(store)
    assert (await store.stats()).running == 1
    assert await store.finish(got, ending())
    stats = await store.stats()
    assert (stats.pending, stats.running) == (0, 0)


# --- finish -----------------------------------------------------------------------------


async def test_the_owner_finishes_a_job_and_its_result_is_stored(store: JobStore) -> None:
    job = await submitted(store)
    got = await claim(store)
    await store.started(got, datetime.now(UTC))
    assert await store.finish(got, ending(stdout="done\n"))
    read = await store.get(job.id)
    assert read is not None and read.status is JobStatus.COMPLETED
    assert isinstance(read.result, RunResult) and read.result.stdout == "done\n"
    stamps = read.timestamps
    assert None not in (stamps.started_at, stamps.finished_at, stamps.stored_at)


async def test_a_failed_job_keeps_its_reason(store: JobStore) -> None:
    job = await submitted(store)
    got = await claim(store)
    assert await store.finish(got, ending(JobStatus.FAILED))
    read = await store.get(job.id)
    assert read is not None
    assert (read.status, read.error, read.result) == (JobStatus.FAILED, "the sandbox failed", None)


async def test_a_job_is_finished_only_once(store: JobStore) -> None:
    await submitted(store)
    got = await claim(store)
    assert await store.finish(got, ending(stdout="first\n"))
    assert not await store.finish(got, ending(stdout="second\n"))
    read = await store.get(got.job_id)
    assert isinstance(read.result if read else None, RunResult)
    assert read is not None and isinstance(read.result, RunResult)
    assert read.result.stdout == "first\n"


async def test_another_worker_cannot_finish_or_update_a_job_it_does_not_hold(
    store: JobStore,
) -> None:
    await submitted(store)
    got = await claim(store, "owner")
    impostor = Claim(got.job_id, got.token, "impostor", got.request, 1, got.received_at)
    await store.progress(impostor, Progress(done=1, total=2))
    assert not await store.finish(impostor, ending())
    read = await store.get(got.job_id)
    assert read is not None and (read.status, read.progress) == (JobStatus.RUNNING, None)
    await store.progress(got, Progress(done=1, total=2))
    read = await store.get(got.job_id)
    assert read is not None and read.progress == Progress(done=1, total=2)


# --- leases -------------------------------------------------------------------------------


async def test_a_job_whose_worker_went_silent_is_taken_over(leased: JobStore) -> None:
    await submitted(leased)
    first = await claim(leased, "silent")
    second = await claim_when_lease_passed(leased, "rescuer")
    assert (second.job_id, second.attempts) == (first.job_id, 2)
    assert not await leased.finish(first, ending())  # the silent worker lost it
    assert await leased.finish(second, ending())


async def test_a_heartbeat_keeps_the_lease() -> None:
    # Heartbeats a third of a lease apart, over more than a lease: a lease of seconds, so
    # that a heartbeat is never late, however loaded the machine. The backends wait those
    # seconds side by side.
    lease_s = 3.0

    async def keeps(backend: str) -> None:
        async with open_store(backend, lease_s=lease_s) as store:
            await submitted(store)
            got = await claim(store, "alive")
            for _ in range(4):
                await store.heartbeat("alive", [], [got])
                assert await store.claim("other", PYTHON, lease_s / 3) is None, backend
            assert await store.finish(got, ending()), backend

    await asyncio.gather(*(keeps(backend) for backend in BACKENDS))


async def test_a_job_handed_back_is_taken_at_once_by_the_next_claim(leased: JobStore) -> None:
    await submitted(leased)
    got = await claim(leased, "stopping")
    await leased.hand_back(got)
    again = await claim_when_lease_passed(leased, "next")
    assert again.job_id == got.job_id


async def test_a_job_delivered_too_often_ends_failed_with_the_reason(leased: JobStore) -> None:
    job = await submitted(leased)
    for attempt in (1, 2, 3):
        got = await claim_when_lease_passed(leased, f"doomed-{attempt}")
        assert got.attempts == attempt
    deadline = asyncio.get_running_loop().time() + PATIENCE_S
    while (read := await leased.get(job.id)) is not None and read.status is JobStatus.RUNNING:
        assert asyncio.get_running_loop().time() < deadline, "the job was never settled"
        assert await leased.claim("last", PYTHON, LEASE_S / 2) is None  # settled, not run
    assert read is not None and read.status is JobStatus.FAILED
    assert read.error is not None and "delivered 3 times" in read.error


# --- cancel, delete, expiry ---------------------------------------------------------------


async def test_a_job_cancelled_while_pending_is_never_delivered(store: JobStore) -> None:
    job = await submitted(store)
    cancelled = await store.cancel(job.id)
    assert cancelled.status is JobStatus.CANCELLED
    assert await store.claim("w1", PYTHON, 0.1) is None


async def test_cancelling_a_running_job_tells_the_workers_and_forbids_its_finish(
    store: JobStore,
) -> None:
    heard: asyncio.Queue[str] = asyncio.Queue()

    async def listen() -> None:
        async for job_id in store.cancellations():
            heard.put_nowait(job_id)

    listener = asyncio.create_task(listen())
    await asyncio.sleep(0)  # the listener starts (in memory that is its subscription)
    try:
        # The listener subscribes in the background, and a cancellation sent before that
        # is not heard (workers listen from their start): cancel running jobs until one is.
        deadline = asyncio.get_running_loop().time() + PATIENCE_S
        while True:
            assert asyncio.get_running_loop().time() < deadline, "no cancellation heard"
            await submitted(store)
            got = await claim(store)
            assert (await store.cancel(got.job_id)).status is JobStatus.CANCELLED
            with contextlib.suppress(TimeoutError):
                if await asyncio.wait_for(heard.get(), 0.5) == got.job_id:
                    break
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener
    assert not await store.finish(got, ending())
    read = await store.get(got.job_id)
    assert read is not None and read.status is JobStatus.CANCELLED


async def test_cancelling_a_finished_or_unknown_job_is_refused(store: JobStore) -> None:
    await submitted(store)
    got = await claim(store)
    await store.finish(got, ending())
    with pytest.raises(JobFinishedError):
        await store.cancel(got.job_id)
    with pytest.raises(JobNotFoundError):
        await store.cancel("no-such-job")


async def test_only_finished_jobs_can_be_deleted(store: JobStore) -> None:
    pending = await submitted(store)
    assert not await store.delete(pending.id)
    got = await claim(store)
    await store.finish(got, ending())
    assert await store.delete(got.job_id)
    assert await store.get(got.job_id) is None
    assert not await store.delete(got.job_id)


@pytest.mark.parametrize("backend", BACKENDS)
async def test_records_expire_after_their_ttl(backend: str) -> None:
    async with open_store(backend, job_ttl_s=1) as store:
        job = await submitted(store)
        assert await store.get(job.id) is not None
        deadline = asyncio.get_running_loop().time() + PATIENCE_S
        while await store.get(job.id) is not None:  # a TTL is time passing, not an event
            assert asyncio.get_running_loop().time() < deadline, "the record never expired"
            await asyncio.sleep(0.1)


# --- watching, stats, languages, origin ---------------------------------------------------


async def test_every_change_is_announced_to_watchers(store: JobStore) -> None:
    job_id = new_job(request_of()).id
    async with store.watch(job_id) as watch:
        job = new_job(request_of()).model_copy(update={"id": job_id})
        await store.submit(job, request_of())
        got = await claim(store)
        assert await watch.changed(PATIENCE_S)  # RUNNING
        await store.progress(got, Progress(done=1, total=1))
        assert await watch.changed(PATIENCE_S)
        await store.finish(got, ending())
        assert await watch.changed(PATIENCE_S)
        read = await store.get(job_id)
        assert read is not None and read.status in TERMINAL_STATUSES


async def test_stats_count_waiting_and_running_jobs_and_live_workers(store: JobStore) -> None:
    await submitted(store)
    await submitted(store)
    got = await claim(store)
    await store.heartbeat("w1", [LanguageInfo("python", "Python", "3")], [got])
    stats = await store.stats()
    assert (stats.pending, stats.running, stats.workers_alive) == (1, 1, 1)
    await store.forget_worker("w1")
    assert (await store.stats()).workers_alive == 0


async def test_languages_are_those_live_workers_offer(store: JobStore) -> None:
    assert await store.languages() == []
    await store.heartbeat("w1", [LanguageInfo("python", "Python 3", "CPython 3.11")], [])
    assert await store.languages() == [LanguageInfo("python", "Python 3", "CPython 3.11")]
    sci = LanguageInfo("python-sci", "Sci", "CPython 3.11", {"numpy": "2.4.6"})
    await store.heartbeat("w1", [sci], [])
    assert sci in await store.languages()  # a profile's packages go through the store


async def test_a_jobs_origin_travels_with_it(store: JobStore) -> None:
    request = request_of()
    origin = Origin(api="judge0", data={"language_id": "71", "stdin": "x"})
    job = new_job(request, origin)
    await store.submit(job, request)
    read = await store.get(job.id)
    assert read is not None and read.origin == origin


# --- live sessions (queue/session.py) ----------------------------------------------------


def out(data: str, kind: OutputKind = OutputKind.STDOUT) -> Output:
    return Output(kind, data)


async def test_session_output_is_read_in_order_by_every_reader_from_the_start(
    store: JobStore,
) -> None:
    sessions = store.sessions
    await sessions.begin("j1")
    await sessions.publish("j1", [Output(OutputKind.STARTED), out("a")])
    await sessions.publish("j1", [out("oops", OutputKind.STDERR), out("b")])
    for _ in range(2):  # two readers, each from the start
        entries, cursor = await sessions.read("j1", START, 1.0)
        assert entries == [
            Output(OutputKind.STARTED),
            out("a"),
            out("oops", OutputKind.STDERR),
            out("b"),
        ]
        assert await sessions.read("j1", cursor, 0) == ([], cursor)


async def test_a_session_reader_waits_for_output_and_wakes_when_it_comes(store: JobStore) -> None:
    sessions = store.sessions
    await sessions.begin("j2")
    reading = asyncio.create_task(sessions.read("j2", START, PATIENCE_S))
    await asyncio.sleep(0)  # the reader is waiting (a yield, not a wait for time)
    await sessions.publish("j2", [out("hello\n")])
    entries, cursor = await asyncio.wait_for(reading, PATIENCE_S)
    assert entries == [out("hello\n")]
    await sessions.publish("j2", [out("again\n")])
    assert (await sessions.read("j2", cursor, 1.0))[0] == [out("again\n")]


async def test_a_new_delivery_drops_the_earlier_output_and_cursors_stay_valid(
    store: JobStore,
) -> None:
    sessions = store.sessions
    await sessions.publish("j3", [out("first try")])
    _, cursor = await sessions.read("j3", START, 1.0)
    await sessions.begin("j3")
    assert await sessions.read("j3", START, 0) == ([], START)
    await sessions.publish("j3", [out("second try")])
    assert (await sessions.read("j3", cursor, 1.0))[0] == [out("second try")]


async def received(
    sessions: Sessions, job_id: str, count: int, cursor: str = START
) -> list[Command | None]:
    """The next count commands, each read from the cursor the last read returned."""
    commands: list[Command | None] = []
    for _ in range(count):
        command, cursor = await sessions.receive(job_id, cursor, 1.0)
        commands.append(command)
    return commands


async def test_session_commands_reach_the_worker_in_order(store: JobStore) -> None:
    sessions = store.sessions
    assert await sessions.receive("j4", START, 0.05) == (None, START)
    sent = [
        Command(CommandKind.STDIN, "1\n"),
        Command(CommandKind.SIGNAL, "SIGINT"),
        Command(CommandKind.CLOSE_STDIN),
    ]
    for command in sent:
        await sessions.send("j4", command)
    assert await received(sessions, "j4", len(sent)) == sent
    assert (await sessions.receive("j4", START, 0.05))[0] is None


async def test_a_sender_waits_while_the_input_queue_is_full(store: JobStore) -> None:
    sessions = store.sessions
    for i in range(MAX_PENDING_INPUTS):
        await sessions.send("j5", Command(CommandKind.STDIN, str(i)))
    blocked = asyncio.create_task(sessions.send("j5", Command(CommandKind.STDIN, "last")))
    done, _ = await asyncio.wait([blocked], timeout=0.2)
    assert not done, "a full queue took one more command"
    first, cursor = await sessions.receive("j5", START, 1.0)
    assert first == Command(CommandKind.STDIN, "0")
    await asyncio.wait_for(blocked, PATIENCE_S)
    rest = await received(sessions, "j5", MAX_PENDING_INPUTS, cursor)
    assert rest[-1] == Command(CommandKind.STDIN, "last")


async def test_the_end_of_a_run_drops_the_input_still_waiting(store: JobStore) -> None:
    sessions = store.sessions
    await sessions.send("j6", Command(CommandKind.STDIN, "never read"))
    await sessions.publish("j6", [out("kept")])
    await sessions.end("j6")
    assert await sessions.receive("j6", START, 0.05) == (None, START)
    assert (await sessions.read("j6", START, 0))[0] == [out("kept")]  # readers finish


async def test_a_session_knows_whether_a_client_is_attached(store: JobStore) -> None:
    sessions = store.sessions
    assert not await sessions.attached("j7")
    async with sessions.attach("j7"):
        async with sessions.attach("j7"):
            assert await sessions.attached("j7")
        assert await sessions.attached("j7")  # the other client is still there
    assert not await sessions.attached("j7")


async def test_a_cancel_may_give_its_reason(store: JobStore) -> None:
    job = await submitted(store)
    await claim(store)
    cancelled = await store.cancel(job.id, "the session was idle")
    assert cancelled.status is JobStatus.CANCELLED
    assert cancelled.error == "the session was idle"
    assert (await store.get(job.id)) == cancelled


async def test_an_interactive_job_says_so(store: JobStore) -> None:
    request = JobRequest(
        language="python", source_code="input()", limits=Limits(), interactive=True
    )
    job = new_job(request)
    await store.submit(job, request)
    stored = await store.get(job.id)
    assert stored is not None and stored.interactive and not stored.stream
    got = await claim(store)
    assert got.request.interactive


# --- the outbox of ended jobs, for the history ----------------------------------------


async def test_jobs_that_end_go_to_the_outbox_only_once_it_is_open(store: JobStore) -> None:
    before = await submitted(store)
    await store.finish(await claim(store), ending())
    assert await store.ended("h1", 10, 0.05) == []  # no history writer yet: nothing kept
    await store.open_outbox()
    done = await submitted(store)
    await store.finish(await claim(store), ending())
    cancelled = await submitted(store)
    await store.cancel(cancelled.id)
    got = await store.ended("h1", 10, 1.0)
    assert [e.job_id for e in got] == [done.id, cancelled.id]
    assert before.id not in {e.job_id for e in got}
    ended = {e.job_id: e.job for e in got}
    first = ended[done.id]
    assert first is not None and first.status is JobStatus.COMPLETED
    assert first.worker == "w1" and first.result is not None
    assert first.input is not None and first.input.source_bytes == len(b"print(1)")
    second = ended[cancelled.id]
    assert second is not None and second.status is JobStatus.CANCELLED


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_job_delivered_too_often_goes_to_the_outbox_failed(backend: str) -> None:
    async with open_store(backend, max_deliveries=1, lease_s=LEASE_S) as store:
        await store.open_outbox()
        job = await submitted(store)
        await claim(store, "w1")  # never finished: the lease runs out
        deadline = asyncio.get_running_loop().time() + PATIENCE_S
        got: list[Ended] = []
        while not got and asyncio.get_running_loop().time() < deadline:
            await store.claim("w2", PYTHON, LEASE_S / 2)  # the second delivery fails it
            got = await store.ended("h1", 10, LEASE_S / 2)
        assert [e.job_id for e in got] == [job.id]
        assert got[0].job is not None and got[0].job.status is JobStatus.FAILED


async def test_acknowledged_jobs_leave_the_outbox_and_the_backlog_says_how_many_wait(
    store: JobStore,
) -> None:
    await store.open_outbox()
    assert await store.backlog() == Backlog(0, 0.0, 0)
    for _ in range(3):
        await submitted(store)
        await store.finish(await claim(store), ending())
    backlog = await store.backlog()
    assert (backlog.waiting, backlog.dropped) == (3, 0) and backlog.oldest_age_s >= 0
    got = await store.ended("h1", 2, 1.0)
    assert len(got) == 2
    await store.recorded("h1", [e.token for e in got])
    assert (await store.backlog()).waiting == 1
    rest = await store.ended("h1", 10, 1.0)
    assert len(rest) == 1 and rest[0].job_id not in {e.job_id for e in got}
    await store.recorded("h1", [rest[0].token])
    assert (await store.backlog()).waiting == 0
    assert await store.ended("h1", 10, 0.05) == []


@pytest.mark.parametrize("backend", BACKENDS)
async def test_past_its_bound_the_outbox_drops_the_oldest_and_counts_them(backend: str) -> None:
    async with open_store(backend, history_backlog=100) as store:
        await store.open_outbox()
        jobs = []
        for _ in range(103):
            jobs.append(await submitted(store))
            await store.finish(await claim(store), ending())
        backlog = await store.backlog()
        assert (backlog.waiting, backlog.dropped) == (100, 3)
        got = await store.ended("h1", 200, 1.0)
        assert [e.job_id for e in got] == [j.id for j in jobs[3:]]


@pytest.mark.parametrize("backend", BACKENDS)
async def test_ended_jobs_a_writer_took_and_never_acknowledged_go_to_another(
    backend: str,
) -> None:
    async with open_store(backend, lease_s=0.1) as store:
        await store.open_outbox()
        job = await submitted(store)
        await store.finish(await claim(store), ending())
        taken = await store.ended("h1", 10, 1.0)
        assert [e.job_id for e in taken] == [job.id]
        assert await store.ended("h2", 10, 0.05) == []  # h1 holds it
        # h1 died: after 10 x lease_s its jobs go to the next writer (time must pass)
        deadline = asyncio.get_running_loop().time() + PATIENCE_S
        again: list[Ended] = []
        while not again and asyncio.get_running_loop().time() < deadline:
            again = await store.ended("h2", 10, 0.2)
        assert [e.job_id for e in again] == [job.id]


async def test_a_job_redelivered_to_a_second_worker_reaches_the_outbox_once(
    leased: JobStore,
) -> None:
    store = leased
    await store.open_outbox()
    job = await submitted(store)
    first = await claim(store, "w1")  # w1 goes silent: its lease runs out
    second = await claim_when_lease_passed(store, "w2")
    assert second.attempts == 2
    assert await store.finish(second, ending(stdout="2\n"))
    assert not await store.finish(first, ending(stdout="1\n"))  # too late: not stored
    got = await store.ended("h1", 10, 1.0)
    assert [e.job_id for e in got] == [job.id]
    ended = got[0].job
    assert ended is not None and ended.worker == "w2" and ended.attempts == 2
    assert isinstance(ended.result, RunResult) and ended.result.stdout == "2\n"
    await store.recorded("h1", [got[0].token])
    assert await store.ended("h1", 10, 0.1) == []


# --- test sets -------------------------------------------------------------------------


async def test_a_test_set_is_kept_and_shared_by_id(store: JobStore) -> None:
    set_id = "sha256:" + "ab" * 32
    assert await store.get_test_set(set_id) is None
    await store.put_test_set(set_id, '[{"stdin": ""}]', 60)
    assert await store.get_test_set(set_id) == '[{"stdin": ""}]'
    await store.put_test_set(set_id, '[{"stdin": ""}]', 60)  # again: the same content
    assert await store.get_test_set(set_id, ttl_s=60) == '[{"stdin": ""}]'
    assert await store.get_test_set("sha256:" + "cd" * 32) is None


async def test_a_test_set_expires_after_its_ttl_unless_used(store: JobStore) -> None:
    kept, dropped = "sha256:" + "01" * 32, "sha256:" + "02" * 32
    await store.put_test_set(kept, "[]", 0.3)
    await store.put_test_set(dropped, "[]", 0.3)
    assert await store.get_test_set(kept, ttl_s=60) == "[]"  # a use renews its TTL
    deadline = asyncio.get_running_loop().time() + PATIENCE_S
    while await store.get_test_set(dropped) is not None:
        assert asyncio.get_running_loop().time() < deadline, "the test set never expired"
        await asyncio.sleep(0.05)  # polling a TTL: time itself is what is waited for
    assert await store.get_test_set(kept) == "[]"


# --- batch lane ----------------------------------------------------------------------------


async def _submit_as(store: JobStore, code: str, batch_id: str | None) -> Job:
    request = JobRequest(language="python", source_code=code, limits=Limits(), batch_id=batch_id)
    job = new_job(request)
    await store.submit(job, request)
    return job


async def test_single_jobs_pass_a_waiting_batch_which_still_gets_every_fourth_claim(
    store: JobStore,
) -> None:
    batch = [await _submit_as(store, f"b{i}", "batch-1") for i in range(3)]
    singles = [await _submit_as(store, f"s{i}", None) for i in range(8)]
    order = [(await claim(store)).job_id for _ in range(11)]
    ids = {job.id: name for name, job in [*(("b", j) for j in batch), *(("s", j) for j in singles)]}
    lanes = "".join(ids[job_id] for job_id in order)
    assert lanes == "sss" + "b" + "sss" + "b" + "ss" + "b"  # BATCH_TURN == 4; then what is left
    assert [j for j in order if ids[j] == "b"] == [j.id for j in batch]  # FIFO in a lane
    assert [j for j in order if ids[j] == "s"] == [j.id for j in singles]


async def test_batch_jobs_run_at_once_when_no_single_job_waits(store: JobStore) -> None:
    batch = [await _submit_as(store, f"b{i}", "batch-1") for i in range(3)]
    assert [(await claim(store)).job_id for _ in range(3)] == [j.id for j in batch]
    assert (await store.stats()).running == 3


async def test_a_batch_keeps_its_job_ids_and_reads_many_jobs_at_once(store: JobStore) -> None:
    jobs = [await _submit_as(store, f"b{i}", "batch-1") for i in range(3)]
    assert await store.get_batch("batch-1") is None
    await store.put_batch("batch-1", [j.id for j in jobs])
    assert await store.get_batch("batch-1") == [j.id for j in jobs]
    got = await store.get_many([jobs[2].id, "no-such-job", jobs[0].id])
    assert [j.id if j is not None else None for j in got] == [jobs[2].id, None, jobs[0].id]


async def test_one_watch_of_many_jobs_says_which_changed(store: JobStore) -> None:
    jobs = [await _submit_as(store, f"b{i}", None) for i in range(3)]
    async with store.watch_many([j.id for j in jobs]) as watch:
        running = await claim(store)
        assert await watch.changed(PATIENCE_S)
        deadline = asyncio.get_running_loop().time() + PATIENCE_S
        while running.job_id not in watch.changed_ids:  # Redis: announcements may lag
            assert await watch.changed(max(0.0, deadline - asyncio.get_running_loop().time()))
        assert watch.changed_ids <= {j.id for j in jobs}
