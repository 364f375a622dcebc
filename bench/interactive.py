"""Benchmark: the interactive round trip through a live session's WebSocket.

Usage (as root): .venv/bin/python -m bench.interactive [--lines N]

A client opens WS /jobs/{id}/session of an interactive job whose program echoes each line
it reads (`for line in sys.stdin: print(line, end="", flush=True)`), then, N times: sends a
line as {"type": "stdin"} and waits for that line to come back as {"type": "stdout"}. The
round trip is the time from the send to the receipt, on the client (the client and the
service on one machine, loopback). Setups: the embedded service (memory backend, in-process
worker), and Redis (an API process and a separate worker process on a redis-server of the
benchmark's own): there the line goes API -> Redis list -> worker -> program -> worker ->
Redis stream -> API -> client. The first lines of each session (the program starting) are
warm-up and not counted. Results go to bench/results/interactive.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

from websockets.sync.client import connect

from bench.stats import percentile
from tests.service import Server, WorkerProcess, delete_prefix, own_redis, server, unique_prefix

ECHO = "import sys\nfor line in sys.stdin:\n    print(line, end='', flush=True)\n"
WARMUP = 20
RESULTS = Path(__file__).parent / "results" / "interactive.md"


def round_trips(api: Server, lines: int) -> list[float]:
    """Seconds per round trip, after the warm-up."""
    job = api.submit(
        {"source_code": ECHO, "interactive": True, "limits": {"wall_time_ms": 300_000}}
    ).json()
    url = api.url.replace("http", "ws") + f"/jobs/{job['job_id']}/session"
    samples: list[float] = []
    with connect(url, open_timeout=30) as ws:
        while json.loads(ws.recv(timeout=60)).get("type") != "started":
            pass
        for i in range(WARMUP + lines):
            text = f"line {i}\n"
            sent = time.perf_counter()
            ws.send(json.dumps({"type": "stdin", "data": text}))
            got = ""
            while got != text:
                message = json.loads(ws.recv(timeout=30))
                if message.get("type") == "stdout":
                    got += message["data"]
            if i >= WARMUP:
                samples.append(time.perf_counter() - sent)
        ws.send(json.dumps({"type": "close_stdin"}))
        while True:
            message = json.loads(ws.recv(timeout=60))
            if message.get("type") == "job" and message["job"]["status"] != "RUNNING":
                break
    return samples


def row(name: str, samples: list[float]) -> str:
    ms = [s * 1000 for s in samples]
    return (
        f"| {name} | {len(ms)} | {percentile(ms, 50):.2f} | {percentile(ms, 90):.2f} | "
        f"{percentile(ms, 99):.2f} | {max(ms):.2f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=1000)
    args = parser.parse_args()
    rows = []
    with server(workers=1) as api:
        rows.append(
            row("embedded (memory backend, in-process worker)", round_trips(api, args.lines))
        )
        print(rows[-1], flush=True)
    with own_redis() as (url, _, _):
        prefix = unique_prefix()
        env = {"ONPYRUNNER_REDIS_PREFIX": prefix}
        worker = WorkerProcess(url, env)
        try:
            with server(redis_url=url, workers=0, env=env) as api:
                samples = round_trips(api, args.lines)
                rows.append(row("Redis (API process + worker process)", samples))
                print(rows[-1], flush=True)
        finally:
            worker.stop()
            delete_prefix(url, prefix)
    report = "\n".join(
        [
            f"# Interactive round trip ({time.strftime('%Y-%m-%d')})",
            "",
            f"{platform.processor() or platform.machine()}, {len(os.sched_getaffinity(0))} CPUs,"
            f" Python {sys.version.split()[0]}; {args.lines} lines per session after "
            f"{WARMUP} of warm-up; milliseconds.",
            "",
            "| setup | lines | p50 | p90 | p99 | max |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
            *rows,
            "",
        ]
    )
    RESULTS.write_text(report)
    print(report)


if __name__ == "__main__":
    main()
