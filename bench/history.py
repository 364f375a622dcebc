"""Benchmark: what the history costs, and how fast /stats answers over a million rows.

Usage (as root, PostgreSQL on 127.0.0.1:5432 with trust auth):
    .venv/bin/python -m bench.history [--rounds N] [--jobs N] [--rows N]

1. Throughput: three embedded servers (in-memory queue, two in-process runs at a time) at
   once, history off, on SQLite, on PostgreSQL (a database of the benchmark's own). Round
   after round, each server in turn runs --jobs hello-world jobs from 8 clients
   (POST /execute?wait=true); jobs/s per round, the median of the rounds compared. The
   servers are idle while another is measured. Also the CPU time of each server process
   per job (API, worker loop and history writer; the sandboxed programs are other
   processes), which the machine's load moves far less than jobs/s.
2. /stats: --rows rows bulk-inserted into a fresh PostgreSQL database through the history
   store's bulk path (HistoryStore.insert_rows: 5,000 rows a transaction, roll-ups kept in
   the same transaction), spread over 24 hours with a realistic mix; then a server on
   that database answers GET /stats over the whole day (default buckets: 15 minutes) and
   over the last hour per minute, 50 times each; p50 and p95.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from bench.stats import median, percentile
from onpyrunner.history.store import HistoryStore
from onpyrunner.queue.store import utcnow
from tests.history.postgres import own_database
from tests.service import server

CLIENTS = 8
BATCH = 5000


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system, all threads) a process has used so far; its sandboxed
    programs are other processes and do not count."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def burst(url: str, jobs: int) -> float:
    """jobs hello-world jobs from CLIENTS clients; jobs per second."""
    queue = list(range(jobs))

    async def client(http: httpx.AsyncClient) -> None:
        while queue:
            i = queue.pop()
            response = await http.post(
                "/execute", params={"wait": "true"}, json={"source_code": f"print({i})"}
            )
            assert response.status_code == 200 and response.json()["status"] == "COMPLETED"

    async with httpx.AsyncClient(base_url=url, timeout=120) as http:
        started = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(CLIENTS)))
        return jobs / (time.perf_counter() - started)


async def throughput(
    rounds: int, jobs: int
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    async with own_database() as pg_url:
        configs = {
            "history off": {"ONPYRUNNER_HISTORY": "false"},
            "history on, SQLite": {},
            "history on, PostgreSQL": {"ONPYRUNNER_DATABASE_URL": pg_url},
        }
        rates: dict[str, list[float]] = {name: [] for name in configs}
        cpu_ms: dict[str, list[float]] = {name: [] for name in configs}
        with (
            server(workers=2, env=configs["history off"]) as off,
            server(workers=2, env=configs["history on, SQLite"]) as on_sqlite,
            server(workers=2, env=configs["history on, PostgreSQL"]) as on_pg,
        ):
            servers = {"history off": off, "history on, SQLite": on_sqlite}
            servers["history on, PostgreSQL"] = on_pg
            for s in servers.values():  # warm up: sandboxes, caches, connections
                await burst(s.url, 20)
            for r in range(rounds):
                order = list(servers.items())
                if r % 2:
                    order.reverse()
                for name, s in order:
                    before = cpu_s(s.proc.pid)
                    rates[name].append(await burst(s.url, jobs))
                    cpu_ms[name].append((cpu_s(s.proc.pid) - before) * 1000 / jobs)
                print(
                    f"round {r + 1}: "
                    + ", ".join(
                        f"{n} {v[-1]:.1f}/s, {cpu_ms[n][-1]:.2f} ms CPU/job"
                        for n, v in rates.items()
                    )
                )
            written = on_pg.http.get("/stats", params={"since": "2000-01-01T00:00:00Z"}).json()
            print(f"rows in the PostgreSQL history: {written['jobs']}")
        return rates, cpu_ms


def fake_rows(n: int, span_s: float = 86400) -> list[dict[str, Any]]:
    """n history rows over the last span_s seconds: languages, outcomes and latencies
    mixed."""
    now = utcnow()
    rnd = random.Random(1)
    languages = ["python"] * 6 + ["c", "cpp", "java", "javascript"]
    outcomes = ["SUCCESS"] * 7 + ["RUNTIME_ERROR", "TIME_LIMIT_EXCEEDED", "WRONG_ANSWER"]
    rows = []
    for i in range(n):
        ended = now - timedelta(seconds=span_s * i / n)
        wait = int(rnd.expovariate(1 / 20))
        run = int(15 + rnd.expovariate(1 / 30))
        received = ended - timedelta(milliseconds=wait + run + 2)
        rows.append(
            {
                "job_id": str(uuid.UUID(int=rnd.getrandbits(128), version=4)),
                "ended_at": ended,
                "deleted_at": None,
                "api": "native",
                "token_id": None,
                "language": languages[i % len(languages)],
                "status": "COMPLETED",
                "outcome": outcomes[rnd.randrange(len(outcomes))],
                "judge": False,
                "passed": None,
                "total": None,
                "score": None,
                "cpu_time_ms": run,
                "wall_time_ms": run + 1,
                "memory_kb": 9000,
                "exit_code": 0,
                "signal": None,
                "worker": "bench",
                "attempts": 1,
                "error": None,
                "limits": {"cpu_time_ms": 2000},
                "received_at": received,
                "picked_up_at": received + timedelta(milliseconds=wait),
                "started_at": received + timedelta(milliseconds=wait),
                "finished_at": ended - timedelta(milliseconds=1),
                "stored_at": ended,
                "queue_wait_ms": wait,
                "run_ms": run,
                "total_ms": wait + run + 2,
                "source_sha256": "0" * 64,
                "source_bytes": 9,
            }
        )
    return rows


async def stats_latency(rows: int, requests: int) -> dict[str, list[float]]:
    async with own_database() as pg_url:
        store = HistoryStore(pg_url)
        await store.prepare()
        started = time.perf_counter()
        made = fake_rows(rows)
        for i in range(0, rows, BATCH):
            await store.insert_rows(made[i : i + BATCH])
        del made
        print(f"{rows:,} rows bulk-inserted in {time.perf_counter() - started:.0f} s")
        vacuum = await store.engine.connect()
        try:  # outside a transaction, as VACUUM must be
            raw = await vacuum.execution_options(isolation_level="AUTOCOMMIT")
            await raw.execute(sa.text("VACUUM ANALYZE"))
        finally:
            await vacuum.close()
        counts = await store.counts()
        print(f"tables: {dict(counts)}")
        await store.close()
        timings: dict[str, list[float]] = {"day, default buckets": [], "last hour, per minute": []}
        with server(workers=0, env={"ONPYRUNNER_DATABASE_URL": pg_url}) as api:
            day = api.http.get("/stats").json()
            assert day["jobs"] >= rows * 0.99, day["jobs"]
            queries = {
                "day, default buckets": {},
                "last hour, per minute": {
                    "since": (utcnow() - timedelta(hours=1)).isoformat(),
                    "bucket": "1m",
                },
            }
            for _ in range(requests):
                for name, params in queries.items():
                    t0 = time.perf_counter()
                    response = api.http.get("/stats", params=params)
                    timings[name].append((time.perf_counter() - t0) * 1000)
                    assert response.status_code == 200
        return timings


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--rows", type=int, default=1_000_000, help="0: no /stats part")
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args()

    rates, cpu_ms = await throughput(args.rounds, args.jobs)
    base = median(rates["history off"])
    base_cpu = median(cpu_ms["history off"])
    print(
        "\n| setup | jobs/s, median of rounds | vs off | server CPU per job | vs off |"
        "\n| --- | --- | --- | --- | --- |"
    )
    for name, values in rates.items():
        cpu = median(cpu_ms[name])
        print(
            f"| {name} | {median(values):.1f} | {median(values) / base:.3f} "
            f"| {cpu:.2f} ms | {cpu - base_cpu:+.2f} ms |"
        )

    if not args.rows:
        return
    timings = await stats_latency(args.rows, args.requests)
    print("\n| GET /stats over the rows | p50 | p95 |\n| --- | --- | --- |")
    for name, values in timings.items():
        print(f"| {name} | {median(values):.1f} ms | {percentile(values, 95):.1f} ms |")


if __name__ == "__main__":
    asyncio.run(main())
