"""Benchmark: RL-style evaluation, many generated samples against one 10-case test set.

Usage (as root):
  .venv/bin/python -m bench.rl [--python 500] [--cpp 100]

Samples are generated: for each language, a mix of correct programs (three ways to solve
the problem), wrong ones (wrong from the first case, or only on large inputs), crashing
ones (an exception or abort() on one case) and too slow ones (a loop that never ends on
large inputs): 70%, 15%, 10% and 5%. Each sample's source is unique (a comment with its
number), so no compile is shared. The problem: read n, print the sum of i*i for i = 1..n
modulo 1e9+7; ten cases, n from 1 to 100,000. Limits: 1 s CPU, 3 s wall per case.

Methods, each on the same samples, each reporting samples/s (samples / wall time), CPU
seconds per sample (the server process, its reaped children and its sandboxes' cgroups;
or the bench's own children, bare) and each sample's verdict:
  (a) per-test POST /run_code, 8 clients, as verl sends them: needs SandboxFusion's
      /run_code (built on another branch); skipped, and said so, when the server lacks it;
  (b) one POST /test-sets and one POST /batches per language (per-sample early stop),
      through a real embedded server (API, in-memory queue, two runs at a time, as
      `scripts/serve` starts it on this 2-core machine), then GET /batches/{id}?wait
      until done;
  (c) bare runs of the same programs, no sandbox, no service: two lanes (threads), each
      running a sample's cases in order and stopping at its first failure; C++ compiled
      once per sample with the catalogue's flags; a case over 1 s CPU (RLIMIT_CPU) or 3 s
      wall is a TLE;
  (c') the same, but every case of every sample, as (a) runs them (verl sends each test,
      whatever the others give): the like-for-like bare baseline of (a), whose protocol
      has no early stop (a too slow sample burns the CPU limit on each of its large cases).
Verdict agreement: the share of samples whose verdict (ACCEPTED or the first failing
case's) is the same as the bare run's; it must be 100%. Results also go to
bench/results/rl.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import signal
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.service import server

MOD = 1_000_000_007
SIZES = [1, 2, 3, 10, 100, 1000, 5000, 20000, 50000, 100000]
CPU_MS, WALL_MS = 1000, 3000
RESULTS = Path(__file__).parent / "results" / "rl.md"
CXX = ["/usr/bin/g++", "-std=c++20", "-O2", "-pipe", "-o", "main", "main.cpp"]

READ = "n = int(input())\n"
FORMULA = "print(n * (n + 1) * (2 * n + 1) // 6 % {M})\n"
PYTHON = {
    "loop": READ + "s = 0\nfor i in range(1, n + 1):\n    s = (s + i * i) % {M}\nprint(s)\n",
    "formula": READ + FORMULA,
    "generator": READ + "print(sum(i * i for i in range(1, n + 1)) % {M})\n",
    "wrong-first": READ + "print(sum(i * i for i in range(1, n)) % {M})\n",
    "wrong-large": READ + "if n >= 5000:\n    n = 0\n" + FORMULA,
    "crash": READ + "if n == 1000:\n    raise ValueError(n)\n" + FORMULA,
    "slow": READ + "while n >= 20000:\n    pass\n" + FORMULA,
}
CPP_HEAD = (
    "#include <cstdio>\n#include <cstdlib>\nint main() {{\n"
    '    long long n;\n    if (scanf("%lld", &n) != 1) return 1;\n'
)
LOOP = (
    "    long long s = 0;\n    for (long long i = 1; i <= n; i++) s = (s + i * i) % {M};\n"
    '    printf("%lld\\n", s);\n}}\n'
)
CPP = {
    "loop": LOOP,
    "formula": (
        "    __int128 v = (__int128)n * (n + 1) * (2 * n + 1) / 6 % {M};\n"
        '    printf("%lld\\n", (long long)v);\n}}\n'
    ),
    "generator": (
        "    long long s = 0;\n"
        "    for (long long i = n; i >= 1; i--) s = (s + i * i % {M}) % {M};\n"
        '    printf("%lld\\n", s);\n}}\n'
    ),
    "wrong-first": LOOP.replace("i <= n", "i < n"),
    "wrong-large": '    if (n >= 5000) {{ puts("0"); return 0; }}\n' + LOOP,
    "crash": "    if (n == 1000) abort();\n" + LOOP,
    "slow": "    volatile long long x = 0;\n    while (n >= 20000) x++;\n" + LOOP,
}
#: The mix, by sample number modulo 20.
MIX = (
    ["loop"] * 5
    + ["formula"] * 5
    + ["generator"] * 4
    + ["wrong-first"] * 2
    + ["wrong-large"]
    + ["crash"] * 2
    + ["slow"]
)


@dataclass(frozen=True)
class Sample:
    language: str  # "python" or "cpp"
    kind: str
    source: str


def samples(language: str, count: int) -> list[Sample]:
    made = []
    for i in range(count):
        kind = MIX[i % len(MIX)]
        if language == "python":
            source = PYTHON[kind].format(M=MOD) + f"# sample {i}\n"
        else:
            source = (CPP_HEAD + CPP[kind]).format(M=MOD) + f"// sample {i}\n"
        made.append(Sample(language, kind, source))
    return made


def cases() -> list[dict[str, str]]:
    return [
        {"stdin": f"{n}\n", "expected_stdout": f"{n * (n + 1) * (2 * n + 1) // 6 % MOD}\n"}
        for n in SIZES
    ]


def _lines(text: str) -> list[str]:
    lines = [line.rstrip() for line in text.split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _limit_cpu() -> None:
    seconds = -(-CPU_MS // 1000)
    resource.setrlimit(resource.RLIMIT_CPU, (seconds, seconds))


def bare_verdict(sample: Sample, work: Path, every_test: bool = False) -> str:
    """The sample's verdict, run bare: its cases in order, up to its first failure (or,
    every_test, all of them, as per-test calls run them; the first failure is the
    verdict)."""
    if sample.language == "python":
        (work / "main.py").write_text(sample.source)
        argv = ["/usr/bin/python3", "-I", "main.py"]
    else:
        (work / "main.cpp").write_text(sample.source)
        compiled = subprocess.run(CXX, cwd=work, capture_output=True, check=False)
        if compiled.returncode != 0:
            return "COMPILE_ERROR"
        argv = [str(work / "main")]
    verdicts = []
    for case in cases():
        verdicts.append(_bare_case(argv, work, case))
        if verdicts[-1] != "ACCEPTED" and not every_test:
            break
    return next((v for v in verdicts if v != "ACCEPTED"), "ACCEPTED")


def _bare_case(argv: list[str], work: Path, case: dict[str, str]) -> str:
    """One case's verdict, run bare."""
    try:
        run = subprocess.run(
            argv,
            cwd=work,
            input=case["stdin"].encode(),
            capture_output=True,
            timeout=WALL_MS / 1000,
            preexec_fn=_limit_cpu,  # before exec, in the child
            check=False,
        )
    except subprocess.TimeoutExpired:
        return "TIME_LIMIT_EXCEEDED"
    if run.returncode in (-signal.SIGXCPU, -signal.SIGKILL):
        return "TIME_LIMIT_EXCEEDED"
    if run.returncode != 0:
        return "RUNTIME_ERROR"
    if _lines(run.stdout.decode()) != _lines(case["expected_stdout"]):
        return "WRONG_ANSWER"
    return "ACCEPTED"


def _children_cpu_s() -> float:
    times = os.times()
    return times.children_user + times.children_system


def _tree_cpu_s(pid: int) -> float:
    """CPU time of the server: the process and its children that ended (utime, stime,
    cutime, cstime), plus its sandboxes' cgroups (the sandboxed programs are not reaped
    by the server, so its children's times miss them; their cgroups count them all)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    own = sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    root = Path("/sys/fs/cgroup")
    if (root / "cgroup.controllers").exists():  # cgroup v2: usage_usec first in cpu.stat
        return own + sum(
            int((d / "cpu.stat").read_text().split()[1]) / 1e6
            for d in root.glob(f"**/onpyrunner-{pid}-*")
        )
    return own + sum(
        int((d / "cpuacct.usage").read_text()) / 1e9
        for d in (root / "cpuacct").glob(f"**/onpyrunner-{pid}-*")
    )


@dataclass
class Measured:
    wall_s: float
    cpu_s: float
    verdicts: list[str]

    def rate(self) -> float:
        return len(self.verdicts) / self.wall_s

    def cpu_per_sample(self) -> float:
        return self.cpu_s / len(self.verdicts)


def bare(batch: list[Sample], lanes: int = 2, every_test: bool = False) -> Measured:
    with tempfile.TemporaryDirectory(prefix="onpyrunner-rl-") as root:
        dirs = [Path(root) / str(i) for i in range(len(batch))]
        for d in dirs:
            d.mkdir()
        cpu, started = _children_cpu_s(), time.monotonic()
        with ThreadPoolExecutor(lanes) as pool:
            verdicts = list(pool.map(bare_verdict, batch, dirs, [every_test] * len(batch)))
        wall = time.monotonic() - started
        return Measured(wall, _children_cpu_s() - cpu, verdicts)


def batched(http: httpx.Client, pid: int, batch: list[Sample]) -> Measured:
    limits = {"cpu_time_ms": CPU_MS, "wall_time_ms": WALL_MS}
    cpu, started = _tree_cpu_s(pid), time.monotonic()
    set_id = http.post("/test-sets", json={"test_cases": cases()}).json()["id"]
    body = {
        "test_set": set_id,
        "submissions": [
            {"language": s.language, "source_code": s.source, "limits": limits} for s in batch
        ],
    }
    answer = http.post("/batches", json=body)
    answer.raise_for_status()
    batch_id = answer.json()["batch_id"]
    deadline = time.monotonic() + 3600
    while True:
        got: dict[str, Any] = http.get(f"/batches/{batch_id}", params={"wait": "30"}).json()
        if got["totals"]["done"] or time.monotonic() > deadline:
            break
    wall = time.monotonic() - started
    verdicts = [job["verdict"] or str(job["status"]) for job in got["jobs"]]
    return Measured(wall, _tree_cpu_s(pid) - cpu, verdicts)


def _run_code_verdict(reply: dict[str, Any], expected: str) -> str | None:
    """One test's verdict from a /run_code reply, read as verl reads it; None: passed."""
    run = reply.get("run_result") or {}
    if reply.get("compile_result") and reply["compile_result"].get("return_code"):
        return "COMPILE_ERROR"
    if run.get("status") == "TimeLimitExceeded":
        return "TIME_LIMIT_EXCEEDED"
    if reply.get("status") != "Success" or run.get("return_code") != 0:
        return "RUNTIME_ERROR"
    if run.get("stdout", "").rstrip("\n") != expected.rstrip("\n"):
        return "WRONG_ANSWER"
    return None


def per_test(url: str, pid: int, batch: list[Sample], clients: int = 8) -> Measured:
    """(a): every test of every sample its own POST /run_code (compiling again each
    time), `clients` at once, with verl's exact body; a sample's verdict is its first
    failing test's, in order."""
    tests = [(i, j, case) for i in range(len(batch)) for j, case in enumerate(cases())]
    failed: dict[tuple[int, int], str | None] = {}
    language = {"python": "python", "cpp": "cpp"}

    def call(http: httpx.Client, item: tuple[int, int, dict[str, str]]) -> None:
        i, j, case = item
        body = {
            "compile_timeout": 10,
            "run_timeout": WALL_MS / 1000,
            "code": batch[i].source,
            "stdin": case["stdin"],
            "memory_limit_MB": 128,
            "language": language[batch[i].language],
            "files": {},
            "fetch_files": [],
        }
        reply = http.post("/run_code", json=body).json()
        failed[(i, j)] = _run_code_verdict(reply, case["expected_stdout"])

    def client(k: int) -> None:
        with httpx.Client(base_url=url, timeout=120) as http:
            for item in tests[k::clients]:
                call(http, item)

    cpu, started = _tree_cpu_s(pid), time.monotonic()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, range(clients)))
    wall = time.monotonic() - started
    verdicts = []
    for i in range(len(batch)):
        first = next((failed[(i, j)] for j in range(len(SIZES)) if failed[(i, j)]), None)
        verdicts.append(first or "ACCEPTED")
    return Measured(wall, _tree_cpu_s(pid) - cpu, verdicts)


def run_code_available(http: httpx.Client) -> bool:
    return (
        http.post("/run_code", json={"code": "print(1)", "language": "python"}).status_code != 404
    )


def agreement(got: list[str], expected: list[str]) -> float:
    return 100 * sum(a == b for a, b in zip(got, expected, strict=True)) / len(expected)


def report(rows: list[tuple[str, str, Measured, list[str]]], run_code: bool) -> str:
    lines = [
        f"# RL evaluation benchmark ({time.strftime('%Y-%m-%d')}, {platform.node()}, "
        f"{os.cpu_count()} cores)",
        "",
        "| language | method | samples | wall s | samples/s | CPU s/sample | agreement with bare |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for language, method, m, expected in rows:
        lines.append(
            f"| {language} | {method} | {len(m.verdicts)} | {m.wall_s:.1f} | {m.rate():.2f} | "
            f"{m.cpu_per_sample():.3f} | {agreement(m.verdicts, expected):.1f}% |"
        )
    if not run_code:
        lines += ["", "(a) per-test POST /run_code: not measured, this server has no /run_code."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--python", type=int, default=500)
    parser.add_argument("--cpp", type=int, default=100)
    args = parser.parse_args()
    rows: list[tuple[str, str, Measured, list[str]]] = []
    with server(workers=2) as api:
        http = httpx.Client(base_url=api.url, timeout=120)
        run_code = run_code_available(http)
        for language, count in (("python", args.python), ("cpp", args.cpp)):
            if count <= 0:
                continue
            batch = samples(language, count)
            base = bare(batch)
            kinds: dict[str, int] = {}
            for s, v in zip(batch, base.verdicts, strict=True):
                kinds[f"{s.kind}:{v}"] = kinds.get(f"{s.kind}:{v}", 0) + 1
            print(language, "bare verdicts by kind:", kinds, flush=True)
            rows.append((language, "(c) bare, 2 lanes", base, base.verdicts))
            if run_code:
                every = bare(batch, every_test=True)
                rows.append((language, "(c') bare, 2 lanes, every test", every, base.verdicts))
                calls = per_test(api.url, api.proc.pid, batch)
                rows.append(
                    (language, "(a) per-test POST /run_code, 8 clients", calls, base.verdicts)
                )
            one = batched(http, api.proc.pid, batch)
            rows.append((language, "(b) one POST /batches", one, base.verdicts))
            print(report(rows, run_code), flush=True)
    text = report(rows, run_code)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
