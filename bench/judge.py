"""Benchmark: one judge job of 20 hello-world-sized cases versus 20 separate plain jobs, and
the same job judged by a C++ checker and by an interactor.

Usage (as root): .venv/bin/python -m bench.judge [--repeat N] [--cold N]

End to end through a real embedded server on loopback (API, in-memory queue, two
in-process runs at a time, as `scripts/serve` starts it on this 2-core machine):
  - judge job: POST /execute?wait=true with 20 test cases, until the answer arrives;
  - the same job with a custom checker in C++ (testlib's protocol; in the compile cache
    after the warm-up, as a problem's checker is after its first job);
  - the same job as an interactive problem: a C++ interactor gives each case's number and
    checks the program's answer (the program and the interactor run at once, two sandboxes
    per case);
  - 20 plain jobs at once: 20 POST /execute?wait=true sent together, until the last answer;
  - 20 plain jobs one after the other.
Medians over --repeat rounds, interleaved. Then --cold jobs whose C++ checker was never
compiled before (a fresh comment in its source): what the first job of a problem pays.
Compiles are counted from /metrics (onpyrunner_compile_cache_total{result="miss"}) around
each job: a job pays its checker's compile once at most.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import time

import httpx

from bench.stats import median, percentile
from tests.service import server

SOURCE = "print(int(input()) * 2)\n"
CASES = 20

CHECKER = """
#include <fstream>
#include <string>
int main(int argc, char** argv) {
    std::ifstream out(argv[2]), ans(argv[3]);
    std::string a, b;
    while (true) {
        bool more_out = static_cast<bool>(out >> a), more_ans = static_cast<bool>(ans >> b);
        if (!more_out && !more_ans) return 0;
        if (more_out != more_ans || a != b) return 1;
    }
}
"""

INTERACTOR = """
#include <fstream>
#include <iostream>
int main(int argc, char** argv) {
    std::ifstream inp(argv[1]);
    long n;
    inp >> n;
    std::cout << n << std::endl;
    long got;
    if (!(std::cin >> got)) return 2;
    return got == 2 * n ? 0 : 1;
}
"""


async def judge_job(client: httpx.AsyncClient, **more: object) -> float:
    cases = [{"stdin": f"{i}\n", "expected_stdout": f"{2 * i}\n"} for i in range(CASES)]
    started = time.perf_counter()
    response = await client.post(
        "/execute",
        params={"wait": "true"},
        json={"source_code": SOURCE, "test_cases": cases, **more},
    )
    elapsed = time.perf_counter() - started
    result = response.json()["result"]
    assert result["verdict"] == "ACCEPTED" and result["passed"] == CASES, result
    return elapsed


def cpp_checker(source: str = CHECKER) -> dict[str, object]:
    return {"checker": {"type": "program", "language": "cpp", "source_code": source}}


def cpp_interactor() -> dict[str, object]:
    return {"interactor": {"language": "cpp", "source_code": INTERACTOR}}


async def compiles(client: httpx.AsyncClient) -> float:
    """Compiles so far (compile cache misses), from /metrics."""
    text = (await client.get("/metrics")).text
    found = re.search(r'^onpyrunner_compile_cache_total\{result="miss"\} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


async def counted(client: httpx.AsyncClient, **more: object) -> tuple[float, float]:
    """A judge job's time, and how many compiles it paid."""
    before = await compiles(client)
    elapsed = await judge_job(client, **more)
    return elapsed, await compiles(client) - before


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
    parser.add_argument("--cold", type=int, default=3)
    args = parser.parse_args()
    samples: dict[str, list[float]] = {
        "judge": [],
        "checker": [],
        "interactor": [],
        "together": [],
        "in turn": [],
    }
    cold: list[tuple[float, float]] = []
    warm_compiles: list[float] = []
    with server(workers=2) as api:
        async with httpx.AsyncClient(
            base_url=api.url, timeout=120, limits=httpx.Limits(max_connections=64)
        ) as client:
            for _ in range(2):  # warm-up (compiles the checker and the interactor once)
                await judge_job(client)
                await judge_job(client, **cpp_checker())
                await judge_job(client, **cpp_interactor())
                await plain_together(client)
            for _ in range(args.repeat):
                samples["judge"].append(await judge_job(client))
                elapsed, paid = await counted(client, **cpp_checker())
                samples["checker"].append(elapsed)
                warm_compiles.append(paid)
                elapsed, paid = await counted(client, **cpp_interactor())
                samples["interactor"].append(elapsed)
                warm_compiles.append(paid)
                samples["together"].append(await plain_together(client))
                samples["in turn"].append(await plain_in_turn(client))
            for _ in range(args.cold):
                fresh = f"{CHECKER}// {os.urandom(8).hex()}\n"
                cold.append(await counted(client, **cpp_checker(fresh)))
    print(
        f"# Judge benchmark ({platform.node()}, {os.cpu_count()} CPUs, "
        f"{time.strftime('%Y-%m-%d %H:%M')}), {args.repeat} rounds\n"
    )
    print(f"| {CASES} hello-world-sized runs | median | p90 |")
    print("| --- | --- | --- |")
    paid_warm = max(warm_compiles, default=0)
    names = {
        "judge": f"one judge job of {CASES} cases (built-in checker)",
        "checker": f"the same job, C++ checker (cached: {paid_warm:.0f} compiles a job)",
        "interactor": f"the same job, C++ interactor ({CASES} exchanges, cached)",
        "together": f"{CASES} plain jobs sent at once",
        "in turn": f"{CASES} plain jobs one after the other",
    }
    for key, values in samples.items():
        print(
            f"| {names[key]} | {median(values) * 1000:.0f} ms | "
            f"{percentile(values, 90) * 1000:.0f} ms |"
        )
    if cold:
        times = [elapsed for elapsed, _ in cold]
        counts = sorted({int(n) for _, n in cold})
        print(
            f"| the same job, C++ checker never compiled before ({len(cold)} jobs, "
            f"{'/'.join(map(str, counts))} compile each) | {median(times) * 1000:.0f} ms | "
            f"{max(times) * 1000:.0f} ms (max) |"
        )


if __name__ == "__main__":
    asyncio.run(main())
