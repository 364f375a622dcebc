"""Benchmark: judge jobs, end to end; and how stable performance scores are under load.

Usage (as root):
  .venv/bin/python -m bench.judge [--repeat N]
  .venv/bin/python -m bench.judge --performance [--rounds 10] [--n 4000] [--clients 6]

End to end through a real embedded server on loopback (API, in-memory queue, two
in-process runs at a time, as `scripts/serve` starts it on this 2-core machine).

Judge jobs (default):
  - judge job: POST /execute?wait=true with 20 test cases, until the answer arrives;
  - 20 plain jobs at once: 20 POST /execute?wait=true sent together, until the last answer;
  - 20 plain jobs one after the other.
Medians over --repeat rounds, interleaved.

Performance scores (--performance, docs/performance.md): a pair of solutions of one problem
(count inversions, tests/judge/programs.py), O(n^2) and O(n log n) merge sort, each scored
against an O(n log n) Fenwick-tree reference on two cases of n numbers, repeat 5, default
weights; --rounds rounds, each scoring the slow one then the fast one. First on the quiet
server, then with the chaos load of bench/chaos.py (--clients clients sending its hostile
and benign mix to the same server, sharing its two run slots) running beside it all along.
Reported per load and solution: every score, their median, lowest, highest and spread
(highest - lowest), the width of the score_range each job reported, and the rounds where
the ordering flipped (the slow one scoring at least the fast one). Results also go to
bench/results/judge-performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench import chaos
from bench.stats import median, percentile
from tests.judge import programs
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


# --- performance scores under load ---------------------------------------------------

RESULTS = Path(__file__).parent / "results" / "judge-performance.md"
SOLUTIONS = {"O(n^2)": programs.QUADRATIC, "O(n log n)": programs.MERGE_SORT}
PERFORMANCE_REPEAT = 5
JOB_TIMEOUT_S = 600.0


@dataclass
class Scored:
    """The scores of one solution under one load."""

    scores: list[float] = field(default_factory=list)
    range_widths: list[float] = field(default_factory=list)
    elapsed_s: list[float] = field(default_factory=list)


class Endless(chaos.Plan):
    """The chaos mix, job after job, until stopped."""

    def __init__(self, cases: tuple[chaos.Case, ...], seed: int) -> None:
        super().__init__(cases, seed, jobs=None, duration_s=float("inf"))
        self.stopped = False

    def next(self) -> chaos.Case | None:
        return None if self.stopped else super().next()


def performance_body(source: str, n: int) -> dict[str, Any]:
    return {
        "source_code": source,
        "test_cases": [programs.case(n, seed) for seed in (1, 2)],
        "limits": {"cpu_time_ms": 15000, "wall_time_ms": 30000},
        "performance": {
            "reference": {"source_code": programs.FENWICK},
            "repeat": PERFORMANCE_REPEAT,
        },
    }


async def score_once(client: httpx.AsyncClient, url: str, body: dict[str, Any]) -> dict[str, Any]:
    """Submit a judge job with a performance request; its result once finished."""
    response = await client.post("/execute", params={"wait": "true"}, json=body)
    job: dict[str, Any] = response.json()
    if job.get("status") not in chaos.TERMINAL:
        job = await chaos.watch(url, str(job["job_id"]), JOB_TIMEOUT_S) or job
    assert job.get("status") == "COMPLETED", job
    result: dict[str, Any] = job["result"]
    assert result["verdict"] == "ACCEPTED" and result["performance_score"] is not None, result
    return result


async def score_rounds(url: str, rounds: int, n: int) -> dict[str, Scored]:
    scored = {name: Scored() for name in SOLUTIONS}
    async with httpx.AsyncClient(base_url=url, timeout=JOB_TIMEOUT_S) as client:
        for _ in range(rounds):
            for name, source in SOLUTIONS.items():
                started = time.perf_counter()
                result = await score_once(client, url, performance_body(source, n))
                scored[name].elapsed_s.append(time.perf_counter() - started)
                scored[name].scores.append(float(result["performance_score"]))
                low, high = result["performance"]["score_range"]
                scored[name].range_widths.append(high - low)
    return scored


async def under_chaos(
    url: str, rounds: int, n: int, clients: int, seed: int
) -> tuple[dict[str, Scored], chaos.Report]:
    """Score the rounds while the chaos clients load the same server; the chaos jobs
    are read back and classified after."""
    report = chaos.Report("memory", clients)
    offered = chaos.languages(url)
    cases = tuple(c for c in chaos.CATALOGUE if c.language in offered)
    plan = Endless(cases, seed)
    load = [asyncio.create_task(chaos.client(url, plan, report.records)) for _ in range(clients)]
    started = time.monotonic()
    try:
        scored = await score_rounds(url, rounds, n)
    finally:
        plan.stopped = True
        await asyncio.gather(*load)
    report.elapsed_s = time.monotonic() - started
    await chaos.read_back(url, report.records, 60.0)
    report.bad = [b for b in map(chaos.classify, report.records) if b is not None]
    return scored, report


def _row(load: str, name: str, s: Scored) -> str:
    spread = max(s.scores) - min(s.scores)
    return (
        f"| {load} | {name} | {statistics.median(s.scores):.2f} | {min(s.scores):.2f} "
        f"| {max(s.scores):.2f} | **{spread:.2f}** | {statistics.median(s.range_widths):.2f} "
        f"| {statistics.median(s.elapsed_s):.1f} s |"
    )


def render_performance(
    results: dict[str, dict[str, Scored]], report: chaos.Report, rounds: int, n: int
) -> str:
    lines = [
        f"# Performance scores under load ({platform.node()}, {os.cpu_count()} CPUs, "
        f"{time.strftime('%Y-%m-%d %H:%M')}, commit {chaos._commit()})",
        "",
        f"{rounds} rounds per load; each round scores the O(n^2) then the O(n log n) solution "
        f"against the Fenwick-tree reference, 2 cases of {n} numbers, repeat "
        f"{PERFORMANCE_REPEAT}, default weights. Chaos: {report.clients} clients of the "
        f"bench/chaos.py mix on the same server ({report.sent} jobs in "
        f"{report.elapsed_s:.0f} s, {report.sent / max(report.elapsed_s, 1e-9):.1f}/s; "
        f"{len(report.failed)} FAILED, {len(report.wrong)} wrong, {len(report.lost)} lost).",
        "",
        "| load | solution | median | lowest | highest | spread | median score_range width "
        "| median time per job |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for load, scored in results.items():
        for name, s in scored.items():
            lines.append(_row(load, name, s))
    lines.append("")
    for load, scored in results.items():
        slow, fast = scored["O(n^2)"].scores, scored["O(n log n)"].scores
        flips = sum(a >= b for a, b in zip(slow, fast, strict=True))
        gap = min(fast) - max(slow)
        lines.append(
            f"- {load}: the ordering flipped in **{flips}** of {len(slow)} rounds; the lowest "
            f"O(n log n) score is {gap:.2f} points above the highest O(n^2) one."
        )
    lines += ["", "Every score, in round order:", ""]
    for load, scored in results.items():
        for name, s in scored.items():
            lines.append(f"- {load}, {name}: " + ", ".join(f"{v:.2f}" for v in s.scores))
    for bad in report.bad:
        lines.append(f"- chaos job: {bad}")
    return "\n".join(lines) + "\n"


async def performance_main(rounds: int, n: int, clients: int, seed: int) -> None:
    results: dict[str, dict[str, Scored]] = {}
    with server(workers=2) as api:
        async with httpx.AsyncClient(base_url=api.url, timeout=JOB_TIMEOUT_S) as client:
            await score_once(client, api.url, performance_body(programs.MERGE_SORT, n))  # warm
        print(f"quiet: {rounds} rounds", flush=True)
        results["quiet"] = await score_rounds(api.url, rounds, n)
        print(f"chaos: {rounds} rounds beside {clients} chaos clients", flush=True)
        results["chaos"], report = await under_chaos(api.url, rounds, n, clients, seed)
    text = render_performance(results, report, rounds, n)
    RESULTS.write_text(text)
    print(text)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--performance", action="store_true", help="score stability instead")
    parser.add_argument("--rounds", type=int, default=10, help="--performance: rounds per load")
    parser.add_argument("--n", type=int, default=4000, help="--performance: numbers per case")
    parser.add_argument("--clients", type=int, default=6, help="--performance: chaos clients")
    parser.add_argument("--seed", type=int, default=1, help="--performance: chaos seed")
    args = parser.parse_args()
    if args.performance:
        await performance_main(args.rounds, args.n, args.clients, args.seed)
        return
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
