"""The distributed setup: API and separate worker processes sharing a real Redis."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest
import redis

from tests.service import (
    REDIS_URL,
    Server,
    WorkerProcess,
    delete_prefix,
    own_redis,
    server,
    start_redis,
    unique_prefix,
)

pytestmark = pytest.mark.sandbox


@contextmanager
def cluster(redis_url: str = REDIS_URL, **env: str) -> Iterator[tuple[Server, dict[str, str]]]:
    """An API-only server and the environment its workers need (same prefix)."""
    prefix = unique_prefix()
    worker_env = {
        "ONPYRUNNER_REDIS_PREFIX": prefix,
        **{f"ONPYRUNNER_{k.upper()}": v for k, v in env.items()},
    }
    try:
        with server(redis_url=redis_url, workers=0, env=worker_env) as api:
            yield api, worker_env
    finally:
        delete_prefix(redis_url, prefix)


@contextmanager
def workers(
    count: int, env: dict[str, str], redis_url: str = REDIS_URL, concurrency: int = 1
) -> Iterator[list[WorkerProcess]]:
    started: list[WorkerProcess] = []
    try:
        for _ in range(count):
            started.append(WorkerProcess(redis_url, env, concurrency))
        yield started
    finally:
        for w in started:
            w.stop()


def test_two_workers_share_fifty_jobs_none_lost_none_run_twice() -> None:
    with cluster() as (api, env), workers(2, env) as pair:
        ids = [api.submit({"source_code": f"print({i} * {i})"}).json()["job_id"] for i in range(50)]
        with ThreadPoolExecutor(8) as pool:
            finals = list(pool.map(lambda job_id: api.events(job_id)[-1], ids))
        for i, job in enumerate(finals):
            assert job["status"] == "COMPLETED", job
            assert job["result"]["stdout"] == f"{i * i}\n"
            assert job["attempts"] == 1
        counts = [w.finished_count() for w in pair]
        assert sum(counts) == 50  # each job stored exactly once
        assert all(c > 0 for c in counts)  # and both workers took a share


def test_a_job_whose_worker_is_killed_completes_on_another() -> None:
    with cluster(lease_s="2") as (api, env):
        with workers(1, env) as [first]:
            job_id = api.submit(
                {
                    "source_code": "import time; time.sleep(1.5); print('ok')",
                    "limits": {"wall_time_ms": 10000},
                }
            ).json()["job_id"]
            api.wait_until(job_id, {"RUNNING"})
            first.signal(signal.SIGKILL)
            assert first.wait() == -signal.SIGKILL
        with workers(1, env):
            final = api.events(job_id, timeout_s=60)[-1]
    assert final["status"] == "COMPLETED"
    assert final["result"]["stdout"] == "ok\n"
    assert final["attempts"] == 2


def test_a_job_delivered_too_often_fails_with_a_reason() -> None:
    with cluster(lease_s="1", max_deliveries="1") as (api, env):
        with workers(1, env) as [first]:
            job_id = api.submit({"source_code": "import time; time.sleep(5)"}).json()["job_id"]
            api.wait_until(job_id, {"RUNNING"})
            first.signal(signal.SIGKILL)
            first.wait()
        with workers(1, env):
            final = api.events(job_id, timeout_s=60)[-1]
    assert final["status"] == "FAILED"
    assert "delivered 1 times without finishing" in final["error"]


def test_sigterm_lets_the_running_job_finish_then_exits_0() -> None:
    with cluster() as (api, env), workers(1, env) as [worker]:
        job_id = api.submit(
            {"source_code": "import time; time.sleep(1); print('finished')"}
        ).json()["job_id"]
        api.wait_until(job_id, {"RUNNING"})
        worker.signal(signal.SIGTERM)
        assert worker.wait(60) == 0
        job = api.http.get(f"/jobs/{job_id}").json()
        assert job["status"] == "COMPLETED"
        assert job["result"]["stdout"] == "finished\n"


def test_redis_down_is_503_and_the_service_recovers() -> None:
    with (
        own_redis() as (url, port, workdir),
        cluster(redis_url=url) as (api, env),
        workers(1, env, redis_url=url),
    ):
        assert api.run({"source_code": "print('before')"})["result"]["stdout"] == "before\n"
        redis.Redis(port=port).shutdown(nosave=True)
        response = api.submit({"source_code": "print(1)"})
        assert response.status_code == 503
        assert "the queue backend is unavailable" in response.json()["error"]
        health = api.http.get("/health")
        assert health.status_code == 503
        assert any("unavailable" in p for p in health.json()["problems"])
        restarted = start_redis(port, workdir)
        try:
            # The API answers at once; the worker comes back within its backoff (<= 5 s).
            after = api.submit({"source_code": "print('after')"}, wait="20")
            assert after.status_code == 200, after.text
            assert after.json()["result"]["stdout"] == "after\n"
        finally:
            restarted.terminate()
            restarted.wait(10)
            if restarted.stdout:
                restarted.stdout.close()


def test_two_api_processes_serve_one_queue() -> None:
    prefix = unique_prefix()
    env = {"ONPYRUNNER_REDIS_PREFIX": prefix}
    try:
        with server(redis_url=REDIS_URL, workers=0, env=env, processes=2) as api, workers(1, env):
            ids = [api.submit({"source_code": f"print({i})"}).json()["job_id"] for i in range(6)]
            finals = [api.events(job_id)[-1] for job_id in ids]
            assert [f["result"]["stdout"] for f in finals] == [f"{i}\n" for i in range(6)]
    finally:
        delete_prefix(REDIS_URL, prefix)
