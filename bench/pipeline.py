"""Benchmark: the job pipeline end to end, embedded and with Redis.

Usage (as root, with wrk installed: apt-get install wrk):
  .venv/bin/python -m bench.pipeline [--quick]

Every server and worker is a real process on loopback, started like the tests start them;
Redis is a redis-server of the benchmark's own on a free port, so nothing else's keys or
load are in the numbers. Measured:
  1. latency of POST /execute?wait=true at low load (p50, p99), interleaved with a bare
     run of the same hello world, embedded and Redis (API + one worker process);
  2. sustained throughput of hello-world jobs through API + Redis + worker, against the
     bare start rate on all cores;
  3. submit rate (enqueue only, no workers) from wrk, with p99;
  4. Redis memory per pending job, for 100,000 queued jobs;
  5. a soak: 10,000 jobs in one burst, two worker processes, one SIGKILLed and restarted
     halfway: every job COMPLETED, none lost, none stored twice; time and queue waits.

`--warm` measures only warm start (issue 13): POST /execute?wait=true of a hello world
(`python`) and of a program whose first line is `import numpy` (`python-sci`) on three
embedded servers at once (warm start, the fork server, cold start), each round a bare
posix_spawn of the same program from this process (`python3 -I -u main.py`; for numpy
`python3 -u main.py` with PYTHONPATH at the python-sci packages, since -I ignores it), then
one request to each server over a kept-alive http.client connection, then one to the warm
server through httpx (its own overhead, for comparison).
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import itertools
import json
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import redis

from bench.stats import median, percentile
from onpyrunner.limits import Limits
from onpyrunner.models import JobRequest
from onpyrunner.queue.redis import RedisStore
from onpyrunner.queue.store import new_job
from onpyrunner.settings import Settings
from tests.service import Server, WorkerProcess, free_port, own_redis, server

HELLO = "print('hello, world')\n"
BODY = {"source_code": HELLO}
PYTHON = "/usr/bin/python3"


async def _bare(script: str) -> float:
    started = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        PYTHON,
        "-I",
        "-u",
        script,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, _ = await proc.communicate()
    assert out == b"hello, world\n"
    return time.perf_counter() - started


async def _request(client: httpx.AsyncClient) -> float:
    started = time.perf_counter()
    response = await client.post("/execute", params={"wait": "true"}, json=BODY)
    elapsed = time.perf_counter() - started
    job = response.json()
    assert response.status_code == 200 and job["result"]["stdout"] == "hello, world\n", job
    return elapsed


async def latency(api: Server, script: str, rounds: int) -> tuple[list[float], list[float]]:
    """(bare, request) samples, interleaved."""
    bare_s, request_s = [], []
    async with httpx.AsyncClient(base_url=api.url, timeout=60) as client:
        for _ in range(10):  # warm-up
            await _request(client)
            await _bare(script)
        for _ in range(rounds):
            bare_s.append(await _bare(script))
            request_s.append(await _request(client))
    return bare_s, request_s


async def throughput(api: Server, script: str, jobs: int, clients: int) -> tuple[float, float]:
    """(jobs/s through the API, bare starts/s on all cores)."""

    async def drive(fn: Any, parallel: int) -> float:
        remaining = jobs

        async def one() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                await fn()

        started = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(parallel)))
        return jobs / (time.perf_counter() - started)

    async with httpx.AsyncClient(
        base_url=api.url, timeout=120, limits=httpx.Limits(max_connections=clients)
    ) as client:
        api_rate = await drive(lambda: _request(client), clients)
    bare_rate = await drive(lambda: _bare(script), os.cpu_count() or 2)
    return api_rate, bare_rate


_WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = '{"source_code": "print(1)"}'
wrk.headers["Content-Type"] = "application/json"
"""


@contextmanager
def minimal_server() -> Iterator[str]:
    """bench/minimal_app.py under uvicorn on a free loopback port; its base URL."""
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.minimal_app:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "info",
            "--no-access-log",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # bounded by the process: it ends if uvicorn fails
            if "Uvicorn running on" in line:
                break
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stdout:
            proc.stdout.close()


def submit_rate(api: Server | str, seconds: int, connections: int) -> dict[str, str]:
    """wrk against POST /execute with no workers: the enqueue path alone."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(_WRK_SCRIPT)
        lua = f.name
    try:
        proc = subprocess.run(
            [
                "wrk",
                "-t1",
                f"-c{connections}",
                f"-d{seconds}s",
                "--latency",
                "-s",
                lua,
                f"{api if isinstance(api, str) else api.url}/execute",
            ],
            capture_output=True,
            text=True,
            timeout=seconds + 60,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"wrk failed: {proc.stderr or proc.stdout}")
        out = proc.stdout
    finally:
        os.unlink(lua)
    found = {
        "rate": re.search(r"Requests/sec:\s+([\d.]+)", out),
        "p50": re.search(r"50%\s+(\S+)", out),
        "p99": re.search(r"99%\s+(\S+)", out),
        "non2xx": re.search(r"Non-2xx or 3xx responses: (\d+)", out),
    }
    return {k: (m.group(1) if m else "0") for k, m in found.items()}


async def memory_per_job(url: str, count: int) -> float:
    """Redis bytes per queued hello-world job, submitted through the store itself."""
    settings = Settings(redis_prefix="bench-mem:", max_pending_jobs=count + 1)
    store = RedisStore(settings, url)
    await store.open()
    client = redis.Redis.from_url(url)
    try:
        before = int(client.info("memory")["used_memory"])
        request = JobRequest(language="python", source_code=HELLO, limits=Limits())
        sem = asyncio.Semaphore(64)

        async def one() -> None:
            async with sem:
                await store.submit(new_job(request), request)

        for start in range(0, count, 5000):
            await asyncio.gather(*(one() for _ in range(min(5000, count - start))))
        after = int(client.info("memory")["used_memory"])
        return (after - before) / count
    finally:
        client.close()
        await store.close()


@contextmanager
def redis_cluster(
    url: str, workers: int, **env: str
) -> Iterator[tuple[Server, list[WorkerProcess]]]:
    settings_env = {f"ONPYRUNNER_{k.upper()}": v for k, v in env.items()}
    settings_env["ONPYRUNNER_REDIS_PREFIX"] = "bench:"
    with server(redis_url=url, workers=0, env=settings_env) as api:
        started = [WorkerProcess(url, settings_env, concurrency=2) for _ in range(workers)]
        try:
            yield api, started
        finally:
            for w in started:
                w.stop()


async def soak(url: str, jobs: int) -> dict[str, Any]:
    """Submit every job in one burst while two workers run them; SIGKILL one worker when
    half the jobs are done and start it again."""
    env = {"lease_s": "5", "max_pending_jobs": str(jobs * 2)}
    worker_env = {
        "ONPYRUNNER_REDIS_PREFIX": "bench:",
        **{f"ONPYRUNNER_{k.upper()}": v for k, v in env.items()},
    }
    with redis_cluster(url, 2, **env) as (api, workers):
        started = time.perf_counter()
        ids: list[str] = []
        sem = asyncio.Semaphore(32)
        # Idle connections are dropped before uvicorn's 5 s keep-alive ends, so a POST is
        # never sent on a connection the server is closing.
        limits = httpx.Limits(keepalive_expiry=2.0)
        async with httpx.AsyncClient(base_url=api.url, timeout=60, limits=limits) as client:

            async def submit() -> None:
                async with sem:
                    response = await client.post("/execute", json=BODY)
                    assert response.status_code == 202, response.text
                    ids.append(response.json()["job_id"])

            burst = asyncio.ensure_future(asyncio.gather(*(submit() for _ in range(jobs))))
            submitted = killed_at = None
            deadline = time.monotonic() + 3600
            while time.monotonic() < deadline:
                health = (await client.get("/health")).json()
                left = health.get("pending", 0) + health.get("running", 0)
                if burst.done() and submitted is None:
                    burst.result()
                    submitted = time.perf_counter() - started
                if killed_at is None and len(ids) - left >= jobs // 2:
                    killed_at = time.perf_counter() - started
                    workers[0].signal(signal.SIGKILL)
                    workers[0].wait()
                    workers[0] = WorkerProcess(url, worker_env, concurrency=2)
                if submitted is not None and killed_at is not None and left == 0:
                    break
                await asyncio.sleep(0.5)  # a progress poll of the benchmark, not a test sync
        elapsed = time.perf_counter() - started
    client_r = redis.Redis.from_url(url, decode_responses=True)
    pipe = client_r.pipeline(transaction=False)
    for job_id in ids:
        pipe.hmget(
            f"bench:job:{job_id}", "status", "attempts", "received_at", "picked_up_at", "stored_at"
        )
    rows = pipe.execute()
    client_r.close()
    statuses: dict[str, int] = {}
    for row in rows:
        statuses[str(row[0])] = statuses.get(str(row[0]), 0) + 1
    waits = [float(r[3]) - float(r[2]) for r in rows if r[3] and r[2]]
    last_stored = max(float(r[4]) for r in rows if r[4])
    first_received = min(float(r[2]) for r in rows if r[2])
    return {
        "jobs": jobs,
        "submitted_s": submitted,
        "killed_at_s": killed_at,
        "elapsed_s": elapsed,
        "span_s": last_stored - first_received,
        "statuses": statuses,
        "redelivered": sum(1 for r in rows if r[1] and int(r[1]) > 1),
        "wait_p50": percentile(waits, 50),
        "wait_p90": percentile(waits, 90),
        "wait_p99": percentile(waits, 99),
        "wait_max": max(waits),
    }


NUMPY = "import numpy\nprint('hello, world')\n"


def _spawn_bare(argv: list[str], env: dict[str, str]) -> float:
    """posix_spawn of argv with its stdout read through a pipe to the end: the fastest
    way to start a program bare (no fork of this process, no shell)."""
    read_end, write_end = os.pipe()
    started = time.perf_counter()
    pid = os.posix_spawn(
        argv[0],
        argv,
        env,
        file_actions=[
            (os.POSIX_SPAWN_DUP2, write_end, 1),
            (os.POSIX_SPAWN_CLOSE, read_end),
        ],
    )
    os.close(write_end)
    out = b""
    while chunk := os.read(read_end, 65536):
        out += chunk
    os.close(read_end)
    _, status = os.waitpid(pid, 0)
    elapsed = time.perf_counter() - started
    assert status == 0 and out == b"hello, world\n", (status, out)
    return elapsed


class LeanClient:
    """POST /execute?wait=true over one kept-alive HTTP/1.1 connection (http.client): what
    a client that cares about latency does. httpx's AsyncClient adds 3 to 5 ms of its own
    per request on this machine (measured beside it: the `httpx` column), which is the
    client's time, not the service's."""

    def __init__(self, url: str) -> None:
        host, port = url.removeprefix("http://").rstrip("/").split(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=60)

    def execute(self, body: dict[str, Any]) -> float:
        payload = json.dumps(body).encode()
        started = time.perf_counter()
        self.conn.request(
            "POST", "/execute?wait=true", payload, {"content-type": "application/json"}
        )
        response = self.conn.getresponse()
        data = response.read()
        elapsed = time.perf_counter() - started
        job = json.loads(data)
        assert response.status == 200 and job["result"]["stdout"] == "hello, world\n", job
        return elapsed

    def close(self) -> None:
        self.conn.close()


async def _request_of(client: httpx.AsyncClient, body: dict[str, Any]) -> float:
    started = time.perf_counter()
    response = await client.post("/execute", params={"wait": "true"}, json=body)
    elapsed = time.perf_counter() - started
    job = response.json()
    assert response.status_code == 200 and job["result"]["stdout"] == "hello, world\n", job
    return elapsed


#: The servers of section --warm: warm start (the default), the fork server, cold start.
WARM_VARIANTS = {
    "warm": {"ONPYRUNNER_WARM_START": "true"},
    "fork": {"ONPYRUNNER_WARM_START": "true", "ONPYRUNNER_FORK_SERVER": "true"},
    "cold": {"ONPYRUNNER_WARM_START": "false"},
}


async def warm_latency(tmp: str, rounds: int) -> None:
    """Section --warm: warm start, the fork server and cold start against bare posix_spawn,
    in one run, one request at a time; each round times a bare start and one request to
    each server (lean client), then one to the warm server through httpx."""
    sci = Settings().python_sci_path
    cases = [
        ("hello world", "python", HELLO, [PYTHON, "-I", "-u"], {}),
        ("`import numpy`", "python-sci", NUMPY, [PYTHON, "-u"], {"PYTHONPATH": str(sci)}),
    ]
    print(f"## Warm start: POST /execute?wait=true, {rounds} rounds, interleaved\n")
    print(
        "| program | bare p50 | warm p50 (p99) | fork server p50 (p99) | cold p50 (p99) "
        "| warm / bare | fork / bare | cold / bare | warm / bare, httpx |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    with (
        server(workers=2, env=WARM_VARIANTS["warm"]) as warm,
        server(workers=2, env=WARM_VARIANTS["fork"]) as fork,
        server(workers=2, env=WARM_VARIANTS["cold"]) as cold,
    ):
        clients = {"warm": LeanClient(warm.url), "fork": LeanClient(fork.url)}
        clients["cold"] = LeanClient(cold.url)
        try:
            async with httpx.AsyncClient(base_url=warm.url, timeout=60) as httpx_client:
                for name, language, source, command, env in cases:
                    script = str(Path(tmp) / f"{language}.py")
                    Path(script).write_text(source)
                    argv = [*command, script]
                    body = {"language": language, "source_code": source}
                    samples: dict[str, list[float]] = {
                        key: [] for key in ("bare", *clients, "httpx")
                    }
                    for i in range(rounds + 10):  # the first 10: warm-up, not kept
                        took = {"bare": _spawn_bare(argv, env)}
                        for key, client in clients.items():
                            took[key] = client.execute(body)
                        took["httpx"] = await _request_of(httpx_client, body)
                        if i >= 10:
                            for key, value in took.items():
                                samples[key].append(value)
                    bare = median(samples["bare"])
                    ratios = " | ".join(
                        f"{median(samples[key]) / bare:.2f}x"
                        for key in ("warm", "fork", "cold", "httpx")
                    )
                    print(
                        f"| {name} | {_ms(samples['bare'], 50)} | "
                        + " | ".join(
                            f"{_ms(samples[key], 50)} ({_ms(samples[key], 99)})"
                            for key in ("warm", "fork", "cold")
                        )
                        + f" | {ratios} |"
                    )
        finally:
            for client in clients.values():
                client.close()


def _rate(one: Callable[[int], object], parallel: int, jobs: int) -> float:
    """jobs/s of `one(lane)` called jobs times in all by `parallel` threads."""
    counter = itertools.count()

    def lane(index: int) -> None:
        while next(counter) < jobs:
            one(index)

    started = time.perf_counter()
    threads = [threading.Thread(target=lane, args=(i,)) for i in range(parallel)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return jobs / (time.perf_counter() - started)


def _bare_lane(argv: list[str], env: dict[str, str]) -> Callable[[int], object]:
    return lambda _lane: _spawn_bare(argv, env)


def _client_lane(clients: list[LeanClient], body: dict[str, Any]) -> Callable[[int], object]:
    return lambda lane: clients[lane].execute(body)


def fork_throughput(tmp: str, rounds: int) -> None:
    """Section --throughput: sustained rate through the API (embedded server, two runs at
    a time, four clients each on its own kept-alive connection) with warm start and with
    the fork server, against bare posix_spawn on every core (one thread per core), in one
    run: each round measures bare, then warm, then the fork server; the median round."""
    sci = Settings().python_sci_path
    cores = os.cpu_count() or 2
    cases = [
        ("hello world", "python", HELLO, [PYTHON, "-I", "-u"], {}, 400),
        ("`import numpy`", "python-sci", NUMPY, [PYTHON, "-u"], {"PYTHONPATH": str(sci)}, 80),
    ]
    print(f"## Sustained throughput, {rounds} rounds, {cores} cores\n")
    print(
        "| program | jobs per round | bare runs/s | warm jobs/s | fork server jobs/s "
        "| warm / bare | fork / bare |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    with (
        server(workers=cores, env=WARM_VARIANTS["warm"]) as warm,
        server(workers=cores, env=WARM_VARIANTS["fork"]) as fork,
    ):
        for name, language, source, command, env, jobs in cases:
            script = str(Path(tmp) / f"{language}.py")
            Path(script).write_text(source)
            argv = [*command, script]
            body = {"language": language, "source_code": source}
            rates: dict[str, list[float]] = {"bare": [], "warm": [], "fork": []}
            for _ in range(rounds):
                rates["bare"].append(_rate(_bare_lane(argv, env), cores, jobs))
                for key, api in (("warm", warm), ("fork", fork)):
                    clients = [LeanClient(api.url) for _ in range(2 * cores)]
                    try:
                        clients[0].execute(body)  # the slots serve this language now
                        rates[key].append(_rate(_client_lane(clients, body), len(clients), jobs))
                    finally:
                        for client in clients:
                            client.close()
            bare, warm_rate, fork_rate = (median(rates[k]) for k in ("bare", "warm", "fork"))
            print(
                f"| {name} | {jobs} | {bare:.1f} | {warm_rate:.1f} | {fork_rate:.1f} "
                f"| {warm_rate / bare:.2f}x | {fork_rate / bare:.2f}x |"
            )


def _ms(samples: list[float], p: float) -> str:
    return f"{percentile([s * 1000 for s in samples], p):.1f} ms"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller counts, for a try")
    parser.add_argument("--warm", action="store_true", help="only the warm-start latency")
    parser.add_argument(
        "--throughput",
        action="store_true",
        help="only the sustained rate of warm start and the fork server",
    )
    args = parser.parse_args()
    rounds, tp_jobs, soak_jobs, mem_jobs = (
        (40, 200, 1000, 10_000) if args.quick else (200, 600, 10_000, 100_000)
    )
    print(
        f"# Pipeline benchmark ({platform.node()}, {os.cpu_count()} CPUs, "
        f"{time.strftime('%Y-%m-%d %H:%M')})\n"
    )
    with tempfile.TemporaryDirectory() as tmp:
        script = str(Path(tmp) / "main.py")
        Path(script).write_text(HELLO)
        Path(tmp).chmod(0o755)
        if args.warm:
            await warm_latency(tmp, rounds)
            return
        if args.throughput:
            fork_throughput(tmp, 3)
            return
        print(f"## 1. Latency of POST /execute?wait=true, {rounds} requests one at a time\n")
        print("| setup | bare p50 | request p50 | request p99 | p50 ratio |")
        print("| --- | --- | --- | --- | --- |")
        with server(workers=2) as api:
            bare_s, req_s = await latency(api, script, rounds)
        print(
            f"| embedded (memory) | {_ms(bare_s, 50)} | {_ms(req_s, 50)} | {_ms(req_s, 99)} "
            f"| {median(req_s) / median(bare_s):.2f}x |"
        )
        with own_redis() as (url, _, _), redis_cluster(url, 1) as (api, _):
            bare_s, req_s = await latency(api, script, rounds)
            print(
                f"| Redis, API + 1 worker process | {_ms(bare_s, 50)} | {_ms(req_s, 50)} "
                f"| {_ms(req_s, 99)} | {median(req_s) / median(bare_s):.2f}x |"
            )
            print(f"\n## 2. Sustained throughput, {tp_jobs} hello-world jobs, 8 clients\n")
            api_rate, bare_rate = await throughput(api, script, tp_jobs, 8)
            print("| path | jobs/s | share of bare |")
            print("| --- | --- | --- |")
            print(
                f"| bare `python3 -I -u main.py`, {os.cpu_count()} at a time | "
                f"{bare_rate:.1f} | 100% |"
            )
            print(
                f"| API + Redis + worker (2 runs at a time) | {api_rate:.1f} | "
                f"{api_rate / bare_rate:.0%} |"
            )
        print("\n## 3. Submit rate, enqueue only (no workers), wrk -t1 -c32 -d10s\n")
        print("| backend | submits/s | p50 | p99 | non-2xx |")
        print("| --- | --- | --- | --- | --- |")
        with minimal_server() as url:
            r = submit_rate(url, 10, 32)
        print(
            f"| yardstick: a trivial FastAPI POST route, nothing behind it | "
            f"{float(r['rate']):.0f} | {r['p50']} | {r['p99']} | {r['non2xx']} |"
        )
        big = {"ONPYRUNNER_MAX_PENDING_JOBS": "10000000"}
        with server(workers=0, env=big) as api:
            r = submit_rate(api, 10, 32)
            print(f"| memory | {float(r['rate']):.0f} | {r['p50']} | {r['p99']} | {r['non2xx']} |")
        for processes in (1, 2):
            env = {**big, "ONPYRUNNER_REDIS_PREFIX": "b:"}
            with (
                own_redis() as (url, _, _),
                server(redis_url=url, workers=0, env=env, processes=processes) as api,
            ):
                r = submit_rate(api, 10, 32)
            print(
                f"| Redis, {processes} API process{'es' if processes > 1 else ''} | "
                f"{float(r['rate']):.0f} | {r['p50']} | {r['p99']} | {r['non2xx']} |"
            )
        with own_redis() as (url, _, _):
            per_job = await memory_per_job(url, mem_jobs)
        print(
            f"\n## 4. Redis memory per pending job: {per_job:.0f} bytes "
            f"({mem_jobs} hello-world jobs queued)\n"
        )
        with own_redis() as (url, _, _):
            result = await soak(url, soak_jobs)
        print(
            f"## 5. Soak: {result['jobs']} jobs in one burst, 2 worker processes, one "
            "SIGKILLed and restarted halfway\n"
        )
        for key, value in result.items():
            shown = f"{value:.2f}" if isinstance(value, float) else value
            print(f"- {key}: {shown}")


if __name__ == "__main__":
    asyncio.run(main())
