"""Benchmark: a weighted mix of hostile and benign programs under load, on both backends.

Usage (as root, after scripts/setup):
  .venv/bin/python -m bench.chaos [--jobs N | --duration S] [--clients C]
                                  [--backend memory|redis|both] [--seed N] [--output FILE]

Several concurrent clients send programs drawn from CATALOGUE (crashes, exit codes,
floods on both streams, a 10 MB line, invalid UTF-8, memory and fork bombs, CPU loops,
sleepers, self-sent signals of every kind, a program that closes its stdout, hello
worlds, judge jobs, C and C++), each with the outcome it must get, through
`POST /execute?wait=true`. Backends: embedded (`serve`, in-memory queue, in-process
workers) and Redis (an API-only `serve` and two `onpyrunner worker` processes on a
redis-server of the benchmark's own; one worker is SIGKILLed halfway and a new one
started). Reported per backend: jobs sent, jobs whose outcome was wrong, jobs FAILED,
jobs lost (never terminal), request errors, jobs delivered more than once, sandbox slot
rebuilds, and hello-world latency p50/p99 under that load. Every bad job is listed with
its id, its case and what was seen. tests/api/test_chaos.py runs a short version.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import connect

from bench.stats import percentile
from onpyrunner.models import TERMINAL_STATUSES, JobStatus, Outcome, Verdict
from tests.service import Server, WorkerProcess, own_redis, server

ROOT = Path(__file__).parent.parent
RESULTS = ROOT / "bench" / "results" / "chaos.md"
BACKENDS = ("memory", "redis")
LEASE_S = 3.0
MAX_DELIVERIES = 3
REBUILDS_METRIC = "onpyrunner_sandbox_slot_rebuilds_total"

# Small limits, so that the programs that run to a limit end quickly.
SMALL: Mapping[str, int] = {
    "cpu_time_ms": 1000,
    "wall_time_ms": 3000,
    "memory_mb": 64,
    "output_kb": 64,
}
LONGEST_WALL_S = 3.0  # the longest wall_time_ms of the catalogue
HELLO = "hello_world"


@dataclass(frozen=True)
class Expect:
    """What a finished job must show: its status is COMPLETED, and then either an outcome
    (a plain run) or a verdict (a judge job), and the result fields given in facts."""

    outcome: Outcome | None = None
    verdict: Verdict | None = None
    facts: Mapping[str, object] = field(default_factory=dict)
    tests: tuple[Verdict, ...] = ()  # a judge job's per-case verdicts, in request order
    stderr_contains: str | None = None
    compile_output: bool = False  # compile_output must hold the compiler's messages

    def problems(self, result: Mapping[str, Any]) -> list[str]:
        """How result differs from this expectation; empty when it matches."""
        found: list[str] = []

        def compare(name: str, expected: object, got: object) -> None:
            if got != expected:
                found.append(f"{name}: expected {_short(expected)}, got {_short(got)}")

        if self.outcome is not None:
            compare("outcome", self.outcome.value, result.get("outcome"))
        if self.verdict is not None:
            compare("verdict", self.verdict.value, result.get("verdict"))
        if self.tests:
            got = tuple(t.get("verdict") for t in result.get("tests") or [])
            compare("tests", tuple(v.value for v in self.tests), got)
        for name, expected in self.facts.items():
            compare(name, expected, result.get(name))
        stderr = str(result.get("stderr") or "")
        if self.stderr_contains is not None and self.stderr_contains not in stderr:
            found.append(
                f"stderr: expected to contain {self.stderr_contains!r}, got {_short(stderr)}"
            )
        if self.compile_output and not result.get("compile_output"):
            found.append("compile_output: expected the compiler's messages, got none")
        return found

    def shown(self) -> str:
        parts = [v.value for v in (self.outcome, self.verdict) if v is not None]
        parts += [
            f"{k}={_short(v, 40)}" for k, v in self.facts.items() if k in ("exit_code", "signal")
        ]
        return " ".join(parts)


@dataclass(frozen=True)
class Case:
    """One program of the mix and the outcome it must get."""

    name: str
    weight: int
    language: str
    source: str
    expect: Expect
    stdin: str = ""
    limits: Mapping[str, int] = field(default_factory=lambda: dict(SMALL))
    test_cases: tuple[Mapping[str, str], ...] = ()
    stop_on_first_failure: bool = False

    def body(self) -> dict[str, Any]:
        """The request body of POST /execute."""
        body: dict[str, Any] = {
            "language": self.language,
            "source_code": self.source,
            "limits": dict(self.limits),
        }
        if self.test_cases:
            body["test_cases"] = [dict(t) for t in self.test_cases]
            if self.stop_on_first_failure:
                body["stop_on_first_failure"] = True
        else:
            body["stdin"] = self.stdin
        return body


def _short(value: object, width: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= width else f"{text[: width - 25]}... ({len(text)} chars)"


def _py(name: str, weight: int, source: str, expect: Expect, **limits: int) -> Case:
    """A Python case with the small limits, changed by limits."""
    return Case(name, weight, "python", source, expect, limits={**SMALL, **limits})


def _judge(
    name: str,
    weight: int,
    source: str,
    io: list[tuple[str, str]],
    expect: Expect,
    stop: bool = False,
) -> Case:
    """A Python judge job: one test case per (stdin, expected stdout) of io; with stop, it
    stops at its first failing case (the cases still running are cancelled)."""
    tests = tuple({"stdin": i, "expected_stdout": o} for i, o in io)
    limits = {**SMALL, "cpu_time_ms": 500}
    return Case(
        name,
        weight,
        "python",
        source,
        expect,
        limits=limits,
        test_cases=tests,
        stop_on_first_failure=stop,
    )


def _ok(stdout: str, **facts: object) -> Expect:
    return Expect(Outcome.SUCCESS, facts={"stdout": stdout, **facts})


def _crash(
    signal_number: int | None = None, exit_code: int | None = None, **facts: object
) -> Expect:
    """RUNTIME_ERROR with this exit code and signal (one of them None)."""
    number = None if signal_number is None else int(signal_number)
    return Expect(RTE, facts={"exit_code": exit_code, "signal": number, **facts})


def _limit(outcome: Outcome, **facts: object) -> Expect:
    return Expect(outcome, facts=facts)


RTE = Outcome.RUNTIME_ERROR
TLE = Outcome.TIME_LIMIT_EXCEEDED
OLE = Outcome.OUTPUT_LIMIT_EXCEEDED
ACC, WA, RE = Verdict.ACCEPTED, Verdict.WRONG_ANSWER, Verdict.RUNTIME_ERROR
SKIP = Verdict.SKIPPED
HELLO_WORLD = _ok("hello, world\n", exit_code=0, signal=None)
COMPILE_ERROR = Expect(Outcome.COMPILE_ERROR, compile_output=True)

# Signals whose default action ends the process. Each program resets the signal to its
# default action first (CPython ignores SIGPIPE and SIGXFSZ and handles SIGINT), then
# sends it to itself, far under every limit: RUNTIME_ERROR with that signal.
TERMINATING_SIGNALS = (
    "SIGHUP SIGINT SIGQUIT SIGILL SIGTRAP SIGABRT SIGBUS SIGFPE SIGKILL SIGUSR1 SIGSEGV SIGUSR2 "
    "SIGPIPE SIGALRM SIGTERM SIGSTKFLT SIGXCPU SIGXFSZ SIGVTALRM SIGPROF SIGIO SIGPWR SIGSYS "
    "SIGRTMIN SIGRTMAX"
).split()
SELF_SIGNAL = """\
import os, signal
sig = signal.Signals[{name!r}]
if sig not in (signal.SIGKILL, signal.SIGSTOP):  # these two cannot be caught
    signal.signal(sig, signal.SIG_DFL)
os.kill(os.getpid(), sig)
print('survived')
"""
IGNORED_SIGNALS = """\
import os, signal
for sig in (signal.SIGCHLD, signal.SIGURG, signal.SIGWINCH, signal.SIGCONT):
    signal.signal(sig, signal.SIG_DFL)
    os.kill(os.getpid(), sig)
print('survived')
"""
FLOOD = "import sys\nwhile True:\n    sys.{stream}.write('x' * 4096)\n"
HUGE_LINE = "import sys\nsys.{stream}.write('y' * 10_000_000)\n"  # one 10 MB line
MEMORY_BOMB = "chunks = []\nwhile True:\n    chunks.append(bytearray(8 * 1024 * 1024))\n"
FORK_BOMB = """\
import os
while True:
    try:
        os.fork()
    except OSError:
        pass
"""
CLOSES_STDOUT = """\
import os, sys
sys.stdout.flush()
os.close(1)
sys.stdout = open(os.devnull, 'w')
print('still here', file=sys.stderr)
"""
INVALID_UTF8 = "import sys\nsys.stdout.buffer.write(b'ok \\xff\\xfe done\\n')\n"
DOUBLE = "print(int(input()) * 2)\n"
JUDGE_MIXED = """\
n = int(input())
if n == 2:
    raise ValueError('two')
if n == 3:
    while True:
        pass
print(n * 2 + (n == 4))
"""
# Wrong at once on its first case, while the later ones are still running (sleeping) in
# the other slots: the early stop cancels runs in flight.
JUDGE_EARLY_STOP = """\
import time
n = int(input())
if n > 1:
    time.sleep(n / 10)
print(n * 2 if n > 1 else 0)
"""
C_HELLO = '#include <stdio.h>\nint main(void) { puts("hello, world"); return 0; }\n'
C_NULL_WRITE = "int main(void) { volatile int *p = 0; *p = 1; return 0; }\n"
C_BROKEN = "int main(void) { return undeclared_name; }\n"
CPP_HELLO = '#include <iostream>\nint main() { std::cout << "hello, world" << std::endl; }\n'
CPP_THROW = '#include <stdexcept>\nint main() { throw std::runtime_error("boom"); }\n'
CPP_BROKEN = "int main() { std::string s; }\n"


def catalogue() -> tuple[Case, ...]:
    """Every case of the mix, with its weight. Expectations follow docs/sandbox.md."""
    x16k, y64k = "x" * 16384, "y" * 65536  # a flood cut at 16 KiB, a 10 MB line at 64 KiB
    cases = [
        # benign: name, weight, source, expectation
        _py(HELLO, 20, "print('hello, world')\n", HELLO_WORLD),
        Case("stdin_double", 4, "python", DOUBLE, _ok("42\n"), stdin="21\n"),
        _py("closes_stdout", 2, CLOSES_STDOUT, _ok("", stderr="still here\n")),
        _py("invalid_utf8", 2, INVALID_UTF8, _ok("ok \ufffd\ufffd done\n")),
        # judge jobs: name, weight, source, [(stdin, expected stdout)], expectation
        _judge(
            "judge_accepted",
            4,
            DOUBLE,
            [("1\n", "2\n"), ("21\n", "42\n"), ("-3\n", "-6\n")],
            Expect(verdict=ACC, facts={"passed": 3, "total": 3}, tests=(ACC, ACC, ACC)),
        ),
        _judge(
            "judge_wrong_answer",
            3,
            "print(int(input()) + 2)\n",
            [("2\n", "4\n"), ("3\n", "6\n"), ("5\n", "10\n")],
            Expect(verdict=WA, facts={"passed": 1, "total": 3}, tests=(ACC, WA, WA)),
        ),
        _judge(
            "judge_mixed",
            2,
            JUDGE_MIXED,
            [("1\n", "2\n"), ("2\n", "4\n"), ("3\n", "6\n"), ("4\n", "8\n")],
            Expect(
                verdict=RE,
                facts={"passed": 1, "total": 4},
                tests=(ACC, RE, Verdict.TIME_LIMIT_EXCEEDED, WA),
            ),
        ),
        _judge(
            "judge_early_stop",
            2,
            JUDGE_EARLY_STOP,
            [("1\n", "2\n"), ("3\n", "6\n"), ("5\n", "10\n"), ("8\n", "16\n")],
            Expect(verdict=WA, facts={"passed": 0, "total": 4}, tests=(WA, SKIP, SKIP, SKIP)),
            stop=True,
        ),
        # compiled languages: name, weight, language, source, expectation
        Case("c_hello", 3, "c", C_HELLO, HELLO_WORLD),
        Case("c_exit_3", 1, "c", "int main(void) { return 3; }\n", _crash(exit_code=3)),
        Case("c_null_write", 1, "c", C_NULL_WRITE, _crash(signal.SIGSEGV)),
        Case("c_compile_error", 1, "c", C_BROKEN, COMPILE_ERROR),
        Case("cpp_hello", 2, "cpp", CPP_HELLO, HELLO_WORLD),
        Case("cpp_uncaught_exception", 1, "cpp", CPP_THROW, _crash(signal.SIGABRT)),
        Case("cpp_compile_error", 1, "cpp", CPP_BROKEN, COMPILE_ERROR),
        # crashes and exit codes
        _py("exit_3", 2, "import sys; sys.exit(3)\n", _crash(exit_code=3)),
        _py(
            "os_exit_42",
            2,
            "import os\nprint('bye', flush=True)\nos._exit(42)\n",
            _crash(exit_code=42, stdout="bye\n"),
        ),
        _py(
            "uncaught_exception",
            2,
            "raise ValueError('boom')\n",
            Expect(RTE, facts={"exit_code": 1}, stderr_contains="ValueError: boom"),
        ),
        _py(
            "syntax_error",
            1,
            "print('unclosed'\n",
            Expect(RTE, facts={"exit_code": 1}, stderr_contains="SyntaxError"),
        ),
        _py("ctypes_null", 2, "import ctypes; ctypes.string_at(0)\n", _crash(signal.SIGSEGV)),
        # floods, each cut at its cap (output_kb, stdout and stderr each)
        _py(
            "stdout_flood", 2, FLOOD.format(stream="stdout"), _limit(OLE, stdout=x16k), output_kb=16
        ),
        _py(
            "stderr_flood", 2, FLOOD.format(stream="stderr"), _limit(OLE, stderr=x16k), output_kb=16
        ),
        _py("huge_line_stdout", 2, HUGE_LINE.format(stream="stdout"), _limit(OLE, stdout=y64k)),
        _py("huge_line_stderr", 1, HUGE_LINE.format(stream="stderr"), _limit(OLE, stderr=y64k)),
        # limits
        _py("memory_bomb", 2, MEMORY_BOMB, _limit(Outcome.MEMORY_LIMIT_EXCEEDED)),
        # 256 MiB: sixteen Pythons that touch their copied pages can fill 64 MiB, and the
        # OOM killer then (rightly) makes it a MEMORY_LIMIT_EXCEEDED
        _py(
            "fork_bomb",
            2,
            FORK_BOMB,
            _limit(TLE),
            max_processes=16,
            wall_time_ms=2000,
            memory_mb=256,
        ),
        _py("cpu_loop", 2, "while True:\n    pass\n", _limit(TLE), cpu_time_ms=500),
        _py("sleeper", 2, "import time\ntime.sleep(100)\n", _limit(TLE), wall_time_ms=1500),
        # signals: SIGSTOP stops the program until the wall limit; the rest end it
        _py("signals_ignored_by_default", 1, IGNORED_SIGNALS, _ok("survived\n")),
        _py(
            "signal_sigstop", 1, SELF_SIGNAL.format(name="SIGSTOP"), _limit(TLE), wall_time_ms=1500
        ),
    ]
    for name in TERMINATING_SIGNALS:
        expect = _crash(signal.Signals[name], stdout="")
        cases.append(_py(f"signal_{name.lower()}", 1, SELF_SIGNAL.format(name=name), expect))
    return tuple(cases)


CATALOGUE = catalogue()


def draw(cases: tuple[Case, ...], jobs: int, seed: int) -> list[Case]:
    """The cases of jobs jobs, in order: every case once when jobs allows, the rest drawn
    by weight, shuffled. The same seed gives the same list."""
    rng = random.Random(seed)
    chosen = list(cases) if jobs >= len(cases) else []
    weights = [c.weight for c in cases]
    chosen += rng.choices(cases, weights=weights, k=jobs - len(chosen))
    rng.shuffle(chosen)
    return chosen


class Plan:
    """Hands out the case of each next job, for a number of jobs or for a duration, and
    says when the run is halfway (by jobs finished, or by time)."""

    def __init__(
        self,
        cases: tuple[Case, ...],
        seed: int,
        jobs: int | None,
        duration_s: float | None,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        if (jobs is None) == (duration_s is None):
            raise ValueError("give exactly one of jobs and duration_s")
        self.cases = cases
        self.jobs = jobs
        self.duration_s = duration_s
        self.queue = draw(cases, jobs, seed) if jobs is not None else []
        self.rng = random.Random(seed)
        self.taken = 0
        self.done = 0
        self.started = time.monotonic()
        self.halfway = asyncio.Event()
        self.progress = progress

    def next(self) -> Case | None:
        """The next job's case, or None when the run is over."""
        if self.jobs is not None:
            if self.taken >= len(self.queue):
                return None
            case = self.queue[self.taken]
        else:
            assert self.duration_s is not None
            elapsed = time.monotonic() - self.started
            if elapsed >= self.duration_s:
                return None
            if elapsed >= self.duration_s / 2:
                self.halfway.set()
            case = self.rng.choices(self.cases, weights=[c.weight for c in self.cases])[0]
        self.taken += 1
        return case

    def finished_one(self) -> None:
        self.done += 1
        if self.progress and self.done % 500 == 0:
            self.progress(f"{self.done} jobs done, {time.monotonic() - self.started:.0f} s")
        if self.jobs is not None and self.done >= self.jobs // 2:
            self.halfway.set()


@dataclass
class JobRecord:
    """One job as the client saw it, and as it was stored when read back after the run."""

    case: Case
    job_id: str | None
    latency_s: float | None = None
    seen: dict[str, Any] | None = None
    stored: dict[str, Any] | None = None
    request_error: str | None = None


@dataclass(frozen=True)
class BadJob:
    """A job that went wrong: kind is FAILED, wrong, lost or request error."""

    kind: str
    case: str
    job_id: str | None
    seen: str  # what went wrong, the same for the same fault (it groups the jobs)
    detail: str = ""  # figures of this one job

    def __str__(self) -> str:
        extra = f" [{self.detail}]" if self.detail else ""
        return f"{self.kind}: {self.case} {self.job_id or '-'}: {self.seen}{extra}"


@dataclass
class Report:
    """What one backend's run gave."""

    backend: str
    clients: int
    records: list[JobRecord] = field(default_factory=list)
    bad: list[BadJob] = field(default_factory=list)
    elapsed_s: float = 0.0
    redelivered: int = 0
    rebuilds: float | None = None
    killed_at_s: float | None = None
    killed_after_jobs: int | None = None
    skipped: list[str] = field(default_factory=list)
    left_in_queue: str = "n/a"  # pending and running by GET /health after the read-back

    @property
    def sent(self) -> int:
        return len(self.records)

    def of_kind(self, kind: str) -> list[BadJob]:
        return [b for b in self.bad if b.kind == kind]

    @property
    def failed(self) -> list[BadJob]:
        return self.of_kind("FAILED")

    @property
    def wrong(self) -> list[BadJob]:
        return self.of_kind("wrong")

    @property
    def lost(self) -> list[BadJob]:
        return self.of_kind("lost")

    @property
    def request_errors(self) -> list[BadJob]:
        return self.of_kind("request error")

    def hello_latencies_s(self) -> list[float]:
        return [
            r.latency_s for r in self.records if r.case.name == HELLO and r.latency_s is not None
        ]


TERMINAL = {s.value for s in TERMINAL_STATUSES}
REQUEST_TIMEOUT_S = 60.0  # above the server's max_wait_s (30 s)
WATCH_S = 120.0  # a client's bound on a job the server did not finish within max_wait_s


def _ws_url(url: str, job_id: str) -> str:
    return url.replace("http://", "ws://", 1) + f"/jobs/{job_id}/events"


async def watch(url: str, job_id: str, timeout_s: float) -> dict[str, Any] | None:
    """The job's last message on its WebSocket: the finished job, or the last one seen
    before timeout_s (None when none came)."""
    last: dict[str, Any] | None = None
    try:
        async with asyncio.timeout(timeout_s), connect(_ws_url(url, job_id)) as ws:
            async for raw in ws:  # ends when the server closes, after the finished job
                message = json.loads(raw)
                if "status" in message:
                    last = message
                if message.get("status") in TERMINAL:
                    break
    except Exception as e:  # the timeout, a refused handshake, a dropped socket, bad JSON
        # A socket that fails loses a message, not the job: the read-back after the run
        # looks again, and a job never seen finished counts as lost.
        last = {**(last or {}), "watch_error": repr(e)}
    return last


async def send(http: httpx.AsyncClient, url: str, case: Case) -> JobRecord:
    """Submit one job with ?wait=true; watch it when the server's wait ran out."""
    started = time.perf_counter()
    try:
        response = await http.post("/execute", params={"wait": "true"}, json=case.body())
    except httpx.HTTPError as e:
        return JobRecord(case, None, request_error=f"POST /execute failed: {e!r}")
    if response.status_code not in (200, 202):
        return JobRecord(
            case,
            None,
            request_error=f"POST /execute answered {response.status_code}: {response.text[:300]}",
        )
    job: dict[str, Any] = response.json()
    job_id = str(job["job_id"])
    if job.get("status") not in TERMINAL:
        job = {**job, **(await watch(url, job_id, WATCH_S) or {})}
    return JobRecord(case, job_id, time.perf_counter() - started, seen=job)


async def client(url: str, plan: Plan, records: list[JobRecord]) -> None:
    """One client: a job at a time until the plan says stop."""
    # Idle connections are dropped before uvicorn's 5 s keep-alive ends, so a POST is
    # never sent on a connection the server is closing.
    limits = httpx.Limits(keepalive_expiry=2.0)
    async with httpx.AsyncClient(base_url=url, timeout=REQUEST_TIMEOUT_S, limits=limits) as http:
        while (case := plan.next()) is not None:
            record = await send(http, url, case)
            records.append(record)
            plan.finished_one()


async def read_back(url: str, records: list[JobRecord], timeout_s: float) -> None:
    """Read every job back from the API after the run; watch those not finished, for at
    most timeout_s (all at once)."""
    sem = asyncio.Semaphore(16)
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:

        async def one(record: JobRecord) -> None:
            assert record.job_id is not None
            async with sem:
                try:
                    response = await http.get(f"/jobs/{record.job_id}")
                except httpx.HTTPError:
                    response = None
            stored: dict[str, Any] | None = None
            if response is not None and response.status_code == 404:
                # Gone before its TTL: lost, even if the client saw it finish.
                record.stored = {"status": "NOT FOUND", "watch_error": "GET answered 404"}
                return
            if response is not None and response.status_code == 200:
                stored = response.json()
            if stored is None or stored.get("status") not in TERMINAL:
                stored = {**(stored or {}), **(await watch(url, record.job_id, timeout_s) or {})}
            record.stored = stored

        await asyncio.gather(*(one(r) for r in records if r.job_id is not None))


def _facts(job: Mapping[str, Any]) -> tuple[object, ...]:
    result = job.get("result") or {}
    return (
        job.get("status"),
        result.get("outcome"),
        result.get("verdict"),
        result.get("exit_code"),
        result.get("signal"),
    )


def _detail(job: Mapping[str, Any]) -> str:
    result = job.get("result") or {}
    usage = result.get("usage") or {}
    parts = [f"attempts {job.get('attempts')}"]
    if usage:
        parts.append(
            f"cpu {usage.get('cpu_time_ms')} ms, wall {usage.get('wall_time_ms')} ms, "
            f"memory {usage.get('memory_kb')} KiB"
        )
    if result.get("stderr"):
        parts.append(f"stderr ends {str(result['stderr'])[-160:]!r}")
    return "; ".join(parts)


def classify(record: JobRecord) -> BadJob | None:
    """The fault of one job, or None when it got what its case expects."""
    name = record.case.name
    if record.request_error is not None:
        return BadJob("request error", name, None, record.request_error)
    job = record.stored or record.seen or {}
    status = job.get("status")
    if status not in TERMINAL:
        return BadJob(
            "lost", name, record.job_id, f"last status {status}", str(job.get("watch_error", ""))
        )
    if status == JobStatus.FAILED:
        return BadJob("FAILED", name, record.job_id, str(job.get("error")), _detail(job))
    if status != JobStatus.COMPLETED:
        return BadJob("wrong", name, record.job_id, f"status {status}", _detail(job))
    problems = record.case.expect.problems(job.get("result") or {})
    seen = record.seen or {}
    if seen.get("status") in TERMINAL and _facts(seen) != _facts(job):
        problems.append(f"stored {_facts(job)} after the client saw {_facts(seen)}")
    if problems:
        return BadJob("wrong", name, record.job_id, "; ".join(problems), _detail(job))
    return None


def rebuilds(metrics_url: str) -> float | None:
    """The sum of every sample of the slot-rebuild counter at metrics_url (0 when the
    counter is there with no sample yet); None when the process does not export it, or the
    endpoint does not answer."""
    try:
        text = httpx.get(metrics_url, timeout=10).text
    except httpx.HTTPError:
        return None
    lines = text.splitlines()
    family = REBUILDS_METRIC.removesuffix("_total")
    if not any(line.startswith(f"# TYPE {family}") for line in lines):
        return None
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in lines
        if line.startswith(REBUILDS_METRIC) and line[len(REBUILDS_METRIC)] in "{ "
    )


def _add(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else a + b


def languages(url: str) -> set[str]:
    return {str(x["id"]) for x in httpx.get(f"{url}/languages", timeout=30).json()}


async def drive(
    url: str,
    cases: tuple[Case, ...],
    report: Report,
    *,
    jobs: int | None,
    duration_s: float | None,
    seed: int,
    kill: Callable[[], None] | None = None,
    progress: Callable[[str], None] | None = None,
) -> None:
    """Run the clients until the plan ends; call kill (in a thread) halfway; then read
    every job back and classify it into report."""
    plan = Plan(cases, seed, jobs, duration_s, progress)
    records = report.records
    started = time.monotonic()
    clients = asyncio.gather(*(client(url, plan, records) for _ in range(report.clients)))
    if kill is not None:
        halfway = asyncio.ensure_future(plan.halfway.wait())
        waiting: set[asyncio.Future[Any]] = {clients, halfway}
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        halfway.cancel()
        if plan.halfway.is_set():
            report.killed_at_s = time.monotonic() - started
            report.killed_after_jobs = plan.done
            if progress:
                progress(f"{plan.done} jobs done, SIGKILL a worker and start another")
            await asyncio.to_thread(kill)
    await clients
    report.elapsed_s = time.monotonic() - started
    if progress:
        progress(f"{report.sent} jobs in {report.elapsed_s:.1f} s, reading every job back")
    # After the run a job may still wait for a lease to run out, be run again, and the
    # last runs may take their whole wall limit each.
    bound_s = LONGEST_WALL_S * MAX_DELIVERIES + LEASE_S * MAX_DELIVERIES + 30
    await read_back(url, records, bound_s)
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        health = (await http.get("/health")).json()
    report.left_in_queue = f"{health.get('pending')} / {health.get('running')}"
    for record in records:
        fault = classify(record)
        if fault is not None:
            report.bad.append(fault)
        if int((record.stored or {}).get("attempts") or 0) > 1:
            report.redelivered += 1


def _offered(url: str, report: Report) -> tuple[Case, ...]:
    offered = languages(url)
    report.skipped = sorted({c.name for c in CATALOGUE if c.language not in offered})
    return tuple(c for c in CATALOGUE if c.language in offered)


def run_memory(
    clients: int,
    jobs: int | None,
    duration_s: float | None,
    seed: int,
    progress: Callable[[str], None] | None = None,
) -> Report:
    """The embedded backend: one `serve`, in-memory queue, in-process workers."""
    report = Report("memory", clients)
    with server() as api:
        cases = _offered(api.url, report)
        asyncio.run(
            drive(
                api.url,
                cases,
                report,
                jobs=jobs,
                duration_s=duration_s,
                seed=seed,
                progress=progress,
            )
        )
        report.rebuilds = rebuilds(f"{api.url}/metrics")
    return report


@contextmanager
def redis_cluster(url: str) -> Iterator[tuple[Server, list[WorkerProcess], dict[str, str]]]:
    """An API-only server and two worker processes (two runs at a time each) on url."""
    env = {
        "ONPYRUNNER_REDIS_PREFIX": "chaos:",
        "ONPYRUNNER_LEASE_S": str(LEASE_S),
        "ONPYRUNNER_MAX_DELIVERIES": str(MAX_DELIVERIES),
    }
    with server(redis_url=url, workers=0, env=env) as api:
        workers: list[WorkerProcess] = []
        try:
            for _ in range(2):
                workers.append(WorkerProcess(url, env, concurrency=2))
            yield api, workers, env
        finally:
            for w in workers:
                w.stop()


def run_redis(
    clients: int,
    jobs: int | None,
    duration_s: float | None,
    seed: int,
    progress: Callable[[str], None] | None = None,
) -> Report:
    """Redis: API-only `serve`, two workers on a redis-server of our own; one worker is
    SIGKILLed halfway and a new one started."""
    report = Report("redis", clients)
    total: list[float | None] = [None]
    with own_redis() as (url, _, _), redis_cluster(url) as (api, workers, env):

        def kill() -> None:
            victim = workers[0]
            total[0] = _add(total[0], rebuilds(f"http://127.0.0.1:{victim.metrics_port}/metrics"))
            victim.signal(signal.SIGKILL)
            victim.wait()
            workers[0] = WorkerProcess(url, env, concurrency=2)

        cases = _offered(api.url, report)
        asyncio.run(
            drive(
                api.url,
                cases,
                report,
                jobs=jobs,
                duration_s=duration_s,
                seed=seed,
                kill=kill,
                progress=progress,
            )
        )
        for w in workers:
            total[0] = _add(total[0], rebuilds(f"http://127.0.0.1:{w.metrics_port}/metrics"))
    report.rebuilds = total[0]
    return report


def run_backend(
    backend: str,
    *,
    jobs: int | None = None,
    duration_s: float | None = None,
    clients: int = 6,
    seed: int = 1,
    progress: Callable[[str], None] | None = None,
) -> Report:
    """One backend's chaos run, for jobs jobs or duration_s seconds."""
    run = {"memory": run_memory, "redis": run_redis}[backend]
    return run(clients, jobs, duration_s, seed, progress)


def _commit() -> str:
    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30, check=False
        )
        return done.stdout.strip()

    try:
        head = git("rev-parse", "--short", "HEAD")
        return head + ("-dirty" if git("status", "--porcelain") else "")
    except FileNotFoundError:  # no git here (the v2 VM)
        return "unknown"


def _ms(samples_s: list[float], p: float) -> str:
    return f"{percentile([s * 1000 for s in samples_s], p):.1f} ms" if samples_s else "n/a"


def render(reports: list[Report], how: str) -> str:
    """The results in Markdown: a summary per backend, per case, and every bad job."""
    lines = [
        f"# Chaos benchmark ({platform.node()}, {os.cpu_count()} CPUs, "
        f"{time.strftime('%Y-%m-%d %H:%M')}, commit {_commit()})",
        "",
        how,
        "",
        "| backend | jobs sent | wrong | FAILED | lost | request errors | attempts > 1 "
        "| slot rebuilds | hello p50 | hello p99 | jobs/s | worker SIGKILLed "
        "| pending / running after |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in reports:
        hello = r.hello_latencies_s()
        killed = (
            f"at {r.killed_at_s:.1f} s, after {r.killed_after_jobs} jobs"
            if r.killed_at_s is not None
            else "–"
        )
        rebuilt = "n/a" if r.rebuilds is None else f"{r.rebuilds:.0f}"
        lines.append(
            f"| {r.backend} | {r.sent} | {len(r.wrong)} | {len(r.failed)} | {len(r.lost)} "
            f"| {len(r.request_errors)} | {r.redelivered} | {rebuilt} | {_ms(hello, 50)} "
            f"| {_ms(hello, 99)} | {r.sent / max(r.elapsed_s, 1e-9):.1f} | {killed} "
            f"| {r.left_in_queue} |"
        )
    for r in reports:
        if r.skipped:
            lines += ["", f"{r.backend}: skipped (language not offered): {', '.join(r.skipped)}"]
    lines += ["", "## Per case", ""]
    lines.append(
        "| case | weight | expected | "
        + " | ".join(f"{r.backend}: sent / bad" for r in reports)
        + " |"
    )
    lines.append("| --- | --- | --- |" + " --- |" * len(reports))
    sent = [Counter(rec.case.name for rec in r.records) for r in reports]
    bad = [Counter(b.case for b in r.bad) for r in reports]
    for case in CATALOGUE:
        cells = " | ".join(
            f"{s[case.name]} / {b[case.name]}" for s, b in zip(sent, bad, strict=True)
        )
        lines.append(f"| {case.name} | {case.weight} | {case.expect.shown()} | {cells} |")
    for r in reports:
        lines += ["", f"## Bad jobs: {r.backend} ({len(r.bad)})", ""]
        if not r.bad:
            continue
        lines += ["| kind | case | seen | jobs |", "| --- | --- | --- | --- |"]
        groups = Counter((b.kind, b.case, b.seen) for b in r.bad)
        for (kind, case_name, seen), count in sorted(groups.items()):
            lines.append(f"| {kind} | {case_name} | {seen.replace('|', '/')} | {count} |")
        lines.append("")
        lines += [f"- {b}" for b in r.bad]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--jobs", type=int, help="jobs per backend (default 5000)")
    size.add_argument("--duration", type=float, help="seconds of load per backend")
    parser.add_argument("--clients", type=int, default=6, help="concurrent clients (6)")
    parser.add_argument("--backend", choices=[*BACKENDS, "both"], default="both")
    parser.add_argument("--seed", type=int, default=1, help="seed of the case choice (1)")
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"results file ({RESULTS})")
    args = parser.parse_args()
    jobs = args.jobs if args.jobs is not None or args.duration is not None else 5000
    how = (
        f"{f'{jobs} jobs' if jobs is not None else f'{args.duration:.0f} s'} per backend, "
        f"{args.clients} clients, seed {args.seed}, {len(CATALOGUE)} cases "
        f"(total weight {sum(c.weight for c in CATALOGUE)}); Redis: lease {LEASE_S:.0f} s, "
        "two workers of two runs each, one SIGKILLed halfway and a new one started."
    )
    backends = BACKENDS if args.backend == "both" else (args.backend,)
    reports = []
    for backend in backends:

        def progress(text: str, backend: str = backend) -> None:
            print(f"{backend}: {text}", flush=True)

        reports.append(
            run_backend(
                backend,
                jobs=jobs,
                duration_s=args.duration,
                clients=args.clients,
                seed=args.seed,
                progress=progress,
            )
        )
    text = render(reports, how)
    args.output.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
