"""The history through real servers and real sandboxes: /history, /stats, DELETE, token
ids, Judge0's list, the Redis setup (the API writes the rows of jobs its workers ran), and
the database stopped while jobs run."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from onpyrunner.api.auth import token_id
from tests.history.postgres import PrivatePostgres, own_database, private_postgres
from tests.service import (
    REDIS_URL,
    Server,
    WorkerProcess,
    delete_prefix,
    server,
    unique_prefix,
)

pytestmark = pytest.mark.sandbox

#: Rows are written within about history_flush_interval_s; a test waits at most this long.
ROWS_WITHIN_S = 60.0
FAST_FLUSH = {"ONPYRUNNER_HISTORY_FLUSH_INTERVAL_S": "0.05"}


def wait_rows(api: Server, job_ids: list[str], timeout_s: float = ROWS_WITHIN_S) -> list[Any]:
    """The history entries of job_ids once all are written (a bounded poll: the writer's
    flush interval is time that must pass)."""
    deadline = time.monotonic() + timeout_s
    found: dict[str, Any] = {}
    while True:
        for job_id in job_ids:
            if job_id not in found:
                response = api.http.get(f"/history/{job_id}")
                if response.status_code == 200:
                    found[job_id] = response.json()
        if len(found) == len(job_ids):
            return [found[j] for j in job_ids]
        assert time.monotonic() < deadline, f"{len(job_ids) - len(found)} rows never arrived"
        time.sleep(0.1)


def hello(n: int) -> dict[str, Any]:
    return {"source_code": f"print({n})"}


def test_history_lists_filters_and_counts_what_ran() -> None:
    with server(workers=2, env=FAST_FLUSH) as api:
        ok = [api.run(hello(i))["job_id"] for i in range(3)]
        bad = api.run({"source_code": "raise SystemExit(3)"})["job_id"]
        judged = api.run(
            {
                "source_code": "print(input())",
                "test_cases": [{"stdin": "a", "expected_stdout": "b"}],
            }
        )["job_id"]
        entries = wait_rows(api, [*ok, bad, judged])
        assert entries[3]["outcome"] == "RUNTIME_ERROR" and entries[3]["exit_code"] == 3
        assert entries[4]["judge"] and entries[4]["outcome"] == "WRONG_ANSWER"
        assert (entries[4]["passed"], entries[4]["total"]) == (0, 1)
        first = entries[0]
        assert first["status"] == "COMPLETED" and first["api"] == "native"
        assert first["usage"]["cpu_time_ms"] >= 0 and first["worker"]
        assert first["content"] is None  # texts are kept only when a setting says so

        listed = api.http.get("/history", params={"outcome": "SUCCESS", "limit": 2}).json()
        assert [e["job_id"] for e in listed["entries"]] == ok[::-1][:2]
        rest = api.http.get(
            "/history", params={"outcome": "SUCCESS", "cursor": listed["next_cursor"]}
        ).json()
        assert [e["job_id"] for e in rest["entries"]] == [ok[0]] and rest["next_cursor"] is None
        assert api.http.get("/history", params={"outcome": "NOPE"}).status_code == 422
        assert api.http.get("/history", params={"cursor": "x"}).status_code == 422

        stats = api.http.get("/stats", params={"bucket": "1m"}).json()
        assert stats["jobs"] == 5
        assert stats["by_outcome"] == {"SUCCESS": 3, "RUNTIME_ERROR": 1, "WRONG_ANSWER": 1}
        assert stats["by_language"] == {"python": 5}
        assert stats["run_ms"]["p50"] is not None and stats["buckets"]

        # DELETE of a finished job removes its record and its history row
        assert api.http.delete(f"/jobs/{ok[0]}").status_code == 200
        assert api.http.get(f"/jobs/{ok[0]}").status_code == 404
        assert api.http.get(f"/history/{ok[0]}").status_code == 404
        assert api.http.get("/stats").json()["jobs"] == 4
        metrics = api.http.get("/metrics").text
        assert "onpyrunner_history_backlog 0.0" in metrics
        assert 'onpyrunner_history_dropped_total{reason="backlog_full"} 0.0' in metrics


def test_the_token_id_is_kept_and_judge0_lists_its_submissions_with_authorization() -> None:
    env = {
        **FAST_FLUSH,
        "ONPYRUNNER_AUTH_TOKENS": "tok-alice,tok-bob",
        "ONPYRUNNER_JUDGE0_AUTHZ_TOKENS": "admin-1",
        "ONPYRUNNER_HISTORY_KEEP_CONTENT": "true",
    }
    with server(workers=2, env=env) as api:
        alice = {"X-Auth-Token": "tok-alice"}
        native = api.http.post("/execute?wait=true", json=hello(7), headers=alice).json()
        subs = []
        for i in range(3):
            created = api.http.post(
                "/judge0/submissions?wait=true",
                json={"source_code": f"print({i})", "language_id": 71},
                headers={"X-Auth-Token": "tok-bob"},
            )
            assert created.status_code == 201, created.text
            subs.append(created.json()["token"])
        api.http.headers.update(alice)
        entries = wait_rows(api, [native["job_id"], *subs])
        assert entries[0]["token_id"] == token_id("tok-alice")
        assert entries[1]["token_id"] == token_id("tok-bob")
        assert "tok-alice" not in str(entries)
        assert entries[0]["content"]["source_code"] == "print(7)"
        assert entries[0]["content"]["stdout"] == "7\n"
        assert entries[1]["api"] == "judge0"

        listing = "/judge0/submissions"
        assert api.http.get(listing).status_code == 403  # authenticated, not authorized
        assert api.http.get(listing, headers={"X-Auth-User": "nope"}).status_code == 403
        admin = {"X-Auth-User": "admin-1"}
        page = api.http.get(listing, params={"per_page": 2}, headers=admin).json()
        assert [s["token"] for s in page["submissions"]] == subs[::-1][:2]
        assert page["meta"] == {
            "current_page": 1,
            "next_page": 2,
            "prev_page": None,
            "total_pages": 2,
            "total_count": 3,
        }
        assert page["submissions"][0]["stdout"] == "2\n"  # texts are kept here
        assert page["submissions"][0]["status"] == {"id": 3, "description": "Accepted"}
        last = api.http.get(
            listing, params={"page": 2, "per_page": 2, "fields": "token,source_code"}, headers=admin
        ).json()
        assert last["submissions"] == [{"token": subs[0], "source_code": "print(0)"}]
        assert last["meta"]["next_page"] is None and last["meta"]["prev_page"] == 1
        bad = api.http.get(listing, params={"page": "0"}, headers=admin)
        assert (bad.status_code, bad.json()) == (400, {"error": "invalid page: 0"})
        # Judge0's DELETE removes the history row too
        assert api.http.delete(f"/judge0/submissions/{subs[0]}").status_code == 200
        assert api.http.get(f"/history/{subs[0]}").status_code == 404
        after = api.http.get(listing, headers=admin).json()
        assert after["meta"]["total_count"] == 2


def test_with_the_history_off_its_routes_say_so() -> None:
    with server(workers=1, env={"ONPYRUNNER_HISTORY": "false"}) as api:
        api.run(hello(1))
        for path in ("/history", "/stats", "/history/x"):
            response = api.http.get(path)
            assert response.status_code == 404
            assert "history is off" in response.json()["error"]


async def test_with_redis_the_api_writes_the_rows_of_jobs_its_worker_processes_ran() -> None:
    prefix = unique_prefix()
    async with own_database() as db:
        env = {**FAST_FLUSH, "ONPYRUNNER_REDIS_PREFIX": prefix, "ONPYRUNNER_DATABASE_URL": db}
        # the worker is given an unreachable database: it never opens one
        worker_env = {**env, "ONPYRUNNER_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}
        try:
            await asyncio.to_thread(_redis_setup_run, env, worker_env)
        finally:
            delete_prefix(REDIS_URL, prefix)


def _redis_setup_run(env: dict[str, str], worker_env: dict[str, str]) -> None:
    with server(redis_url=REDIS_URL, workers=0, env=env, processes=2) as api:
        worker = WorkerProcess(REDIS_URL, worker_env, concurrency=2)
        try:
            ids = [api.run(hello(i))["job_id"] for i in range(10)]
            cancelled = api.submit({"source_code": "import time; time.sleep(60)"}).json()["job_id"]
            api.wait_until(cancelled, {"RUNNING"})
            assert api.http.delete(f"/jobs/{cancelled}").json()["status"] == "CANCELLED"
            entries = wait_rows(api, [*ids, cancelled])
        finally:
            worker.stop()
        assert {e["status"] for e in entries[:10]} == {"COMPLETED"}
        assert entries[10]["status"] == "CANCELLED"
        assert api.http.get("/stats").json()["jobs"] == 11  # each once, by two API processes


@pytest.mark.parametrize("backend", ["memory", "redis"])
async def test_jobs_finish_while_the_database_is_down_and_their_rows_arrive_after(
    backend: str,
) -> None:
    with private_postgres() as pg:
        async with own_database(pg.admin_url) as db:
            await asyncio.to_thread(_outage_run, backend, pg, db)


def _outage_run(backend: str, pg: PrivatePostgres, db: str) -> None:
    prefix = unique_prefix()
    env = {**FAST_FLUSH, "ONPYRUNNER_DATABASE_URL": db, "ONPYRUNNER_REDIS_PREFIX": prefix}
    redis_url = REDIS_URL if backend == "redis" else None
    try:
        with server(redis_url=redis_url, workers=2, env=env) as api:
            before = [api.run(hello(i))["job_id"] for i in range(3)]
            wait_rows(api, before)
            pg.stop()
            during = []
            for i in range(20):  # every job still runs and finishes at once
                job = api.run(hello(100 + i))
                assert job["status"] == "COMPLETED" and job["result"]["stdout"] == f"{100 + i}\n"
                during.append(job["job_id"])
            api.wait_for_line("history database unavailable")
            assert api.http.get("/history").status_code == 503
            metrics = api.http.get("/metrics").text
            backlog = _metric(metrics, "onpyrunner_history_backlog")
            assert backlog >= 19  # the writer may hold one batch of them
            assert _metric(metrics, "onpyrunner_history_lag_seconds") > 0
            pg.start()
            entries = wait_rows(api, during)
            assert [e["job_id"] for e in entries] == during
            assert api.http.get("/stats").json()["jobs"] == 23
            assert _metric(api.http.get("/metrics").text, "onpyrunner_history_backlog") == 0
    finally:
        delete_prefix(REDIS_URL, prefix)


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"no {name} in /metrics")
