"""Benchmark: one judge job of 20 hello-world-sized cases versus 20 separate plain jobs.

Usage (as root): .venv/bin/python -m bench.judge [--repeat N]

End to end through a real embedded server on loopback (API, in-memory queue, two
in-process runs at a time, as `scripts/serve` starts it on this 2-core machine):
  - judge job: POST /execute?wait=true with 20 test cases, until the answer arrives;
  - 20 plain jobs at once: 20 POST /execute?wait=true sent together, until the last answer;
  - 20 plain jobs one after the other.
Medians over --repeat rounds, interleaved.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import time

import httpx

from bench.stats import median, percentile
from tests.service import server

SOURCE = "print(int(input()) * 2)\n"
CASES = 20


async def judge_job(client: httpx.AsyncClient) -> float:
    cases = [{"stdin": f"{i}\n", "expected_stdout": f"{2 * i}\n"} for i in range(CASES)]
    started = time.perf_counter()
    response = await client.post(
        "/execute", params={"wait": "true"}, json={"source_code": SOURCE, "test_cases": cases}
    )
    elapsed = time.perf_counter() - started
    result = response.json()["result"]
    assert result["verdict"] == "ACCEPTED" and result["passed"] == CASES, result
    return elapsed


async def plain(client: httpx.AsyncClient, i: int) -> None:
    response = await client.post(
        "/execute", params={"wait": "true"}, json={"source_code": SOURCE, "stdin": f"{i}\n"}
    )
    assert response.json()["result"]["stdout"] == f"{2 * i}\n"


async def plain_together(client: httpx.AsyncClient) -> float:
    started = time.perf_counter()
    await asyncio.gather(*(plain(client, i) for i in range(CASES)))
    return time.perf_counter() - started


async def plain_in_turn(client: httpx.AsyncClient) -> float:
    started = time.perf_counter()
    for i in range(CASES):
        await plain(client, i)
    return time.perf_counter() - started


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    samples: dict[str, list[float]] = {"judge": [], "together": [], "in turn": []}
    with server(workers=2) as api:
        async with httpx.AsyncClient(
            base_url=api.url, timeout=120, limits=httpx.Limits(max_connections=64)
        ) as client:
            for _ in range(2):  # warm-up
                await judge_job(client)
                await plain_together(client)
            for _ in range(args.repeat):
                samples["judge"].append(await judge_job(client))
                samples["together"].append(await plain_together(client))
                samples["in turn"].append(await plain_in_turn(client))
    print(
        f"# Judge benchmark ({platform.node()}, {os.cpu_count()} CPUs, "
        f"{time.strftime('%Y-%m-%d %H:%M')}), {args.repeat} rounds\n"
    )
    print(f"| {CASES} hello-world-sized runs | median | p90 |")
    print("| --- | --- | --- |")
    names = {
        "judge": f"one judge job of {CASES} cases",
        "together": f"{CASES} plain jobs sent at once",
        "in turn": f"{CASES} plain jobs one after the other",
    }
    for key, values in samples.items():
        print(
            f"| {names[key]} | {median(values) * 1000:.0f} ms | "
            f"{percentile(values, 90) * 1000:.0f} ms |"
        )


if __name__ == "__main__":
    asyncio.run(main())
