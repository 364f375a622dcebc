"""Benchmark: hello world in the sandbox versus the same command line run bare.

Usage: .venv/bin/python -m bench.sandbox [--rounds N] [--throughput-runs N]

Measured in one process, interleaved round by round so that machine noise hits every
variant alike:
  bare          `python3 -I -u main.py` through asyncio's subprocess (pipes captured)
  bare-plain    `python3 main.py`, the same way
  sandboxed     `await sandbox.run(...)`, the runner's Python API, at low load (the slot's
                next sandbox is ready when the request comes)
  back to back  the same, one request right after the other (a slot may still be
                building its next sandbox)
  fork server   the same at low load with the fork server (setting fork_server)
  cold start    the same at low load with warm start off (setting warm_start): the
                interpreter starts after the request, as before issue 13
and, when the python-sci profile is installed, a program whose first line is
`import numpy`: bare (`python3 -u main.py`, PYTHONPATH at the profile's packages, since -I
would ignore it), sandboxed python-sci with warm start (numpy imported before the
request), with the fork server, and cold.
Then sustained throughput on all cores, sandboxed versus bare, and where the sandbox's
cost goes: building one sandbox (nsjail's clone, each namespace, mounts, the init),
nsjail's own start (once per slot), and cgroup handling.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import platform
import resource
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from bench.stats import median, summary_ms
from onpyrunner.limits import Limits
from onpyrunner.models import Outcome
from onpyrunner.sandbox import nsjail
from onpyrunner.sandbox.pool import Sandbox
from onpyrunner.settings import Settings

HELLO = b"print('hello, world')\n"
NUMPY = b"import numpy\nprint('hello, world')\n"


async def bare(argv: list[str], env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, _ = await proc.communicate()
    elapsed = time.perf_counter() - started
    assert proc.returncode == 0 and out == b"hello, world\n"
    return elapsed


async def sandboxed(
    sandbox: Sandbox, limits: Limits, settle: bool, language: str = "python", source: bytes = HELLO
) -> float:
    if settle:
        await sandbox.settle()  # low load: the next sandbox is built between requests
    started = time.perf_counter()
    result = await sandbox.run(language, source, b"", limits)
    elapsed = time.perf_counter() - started
    assert result.outcome is Outcome.SUCCESS and result.stdout == "hello, world\n", result
    return elapsed


async def latency(rounds: int, python: str, script: str) -> dict[str, list[float]]:
    settings = Settings()
    limits = settings.limit_table().defaults
    sandbox = await Sandbox.start(settings)
    cold = await Sandbox.start(settings.model_copy(update={"warm_start": False}))
    fork = await Sandbox.start(settings.model_copy(update={"fork_server": True}))
    variants: dict[str, Callable[[], Awaitable[float]]] = {
        "bare (python3 -I -u main.py)": lambda: bare([python, "-I", "-u", script]),
        "bare (python3 main.py)": lambda: bare([python, script]),
        "sandboxed, low load": lambda: sandboxed(sandbox, limits, settle=True),
        "sandboxed, back to back": lambda: sandboxed(sandbox, limits, settle=False),
        "sandboxed, fork server, low load": lambda: sandboxed(fork, limits, settle=True),
        "sandboxed, cold start, low load": lambda: sandboxed(cold, limits, settle=True),
    }
    if "python-sci" in sandbox.runtimes:
        numpy_script = str(Path(script).with_name("numpy_main.py"))
        Path(numpy_script).write_bytes(NUMPY)
        env = {"PYTHONPATH": str(settings.python_sci_path), "PATH": "/usr/bin:/bin"}
        variants |= {
            "numpy: bare (python3 -u main.py)": lambda: bare([python, "-u", numpy_script], env),
            "numpy: sandboxed python-sci, low load": lambda: sandboxed(
                sandbox, limits, True, "python-sci", NUMPY
            ),
            "numpy: sandboxed python-sci, fork server, low load": lambda: sandboxed(
                fork, limits, True, "python-sci", NUMPY
            ),
            "numpy: sandboxed python-sci, cold start, low load": lambda: sandboxed(
                cold, limits, True, "python-sci", NUMPY
            ),
        }
    samples: dict[str, list[float]] = {name: [] for name in variants}
    try:
        for _ in range(5):  # warm-up: page cache, first sandboxes
            for fn in variants.values():
                await fn()
        for _ in range(rounds):
            for name, fn in variants.items():
                samples[name].append(await fn())
    finally:
        await sandbox.close()
        await cold.close()
        await fork.close()
    return samples


async def throughput(runs: int, python: str, script: str) -> dict[str, float]:
    settings = Settings()
    workers = settings.effective_concurrency()
    limits = settings.limit_table().defaults
    out: dict[str, float] = {"workers": workers}

    async def drive(fn: Callable[[], Awaitable[float]]) -> float:
        remaining = runs

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                await fn()

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(workers)))
        return runs / (time.perf_counter() - started)

    sandbox = await Sandbox.start(settings)
    cold = await Sandbox.start(settings.model_copy(update={"warm_start": False}))
    fork = await Sandbox.start(settings.model_copy(update={"fork_server": True}))
    try:
        for _ in range(2):  # alternate twice and keep the best of each, to even out noise
            rate = await drive(lambda: bare([python, "-I", "-u", script]))
            out["bare"] = max(out.get("bare", 0.0), rate)
            rate = await drive(lambda: sandboxed(sandbox, limits, settle=False))
            out["sandboxed"] = max(out.get("sandboxed", 0.0), rate)
            rate = await drive(lambda: sandboxed(fork, limits, settle=False))
            out["fork server"] = max(out.get("fork server", 0.0), rate)
            rate = await drive(lambda: sandboxed(cold, limits, settle=False))
            out["cold start"] = max(out.get("cold start", 0.0), rate)
    finally:
        await sandbox.close()
        await cold.close()
        await fork.close()
    return out


def _bare_cpu_ms(python: str, script: str, rounds: int) -> tuple[float, float]:
    """Median wall and CPU time of `python3 -I -u main.py`, started directly."""
    walls, cpus = [], []
    devnull = os.open(os.devnull, os.O_WRONLY)
    for _ in range(rounds):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        pid = os.posix_spawn(
            python,
            [python, "-I", "-u", script],
            {},
            file_actions=[(os.POSIX_SPAWN_DUP2, devnull, 1)],
        )
        os.waitpid(pid, 0)
        walls.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    os.close(devnull)
    return median(walls) * 1000, median(cpus) * 1000


async def _build_costs(
    sandbox: Sandbox, extra: tuple[str, ...], rounds: int
) -> tuple[float, float]:
    """Median wall ms and CPU ms of building one sandbox, with extra nsjail options."""
    slot = sandbox.slots[0]
    slot.config = dataclasses.replace(slot.config, extra_nsjail_args=extra)
    await slot.reset()
    walls, cpus = [], []
    for i in range(rounds + 3):
        await sandbox.run("python", HELLO)
        cpu_ns = slot.cgroup.cpu_ns()  # the run is over: nsjail builds the next sandbox
        assert slot.jail is not None
        await slot.jail.settle()
        if i >= 3 and slot.jail.build_s is not None:
            walls.append(slot.jail.build_s)
            cpus.append((slot.cgroup.cpu_ns() - cpu_ns) / 1e6)
    return median(walls) * 1000, median(cpus)


async def breakdown(rounds: int, python: str, script: str) -> list[tuple[str, str]]:
    settings = Settings(warm_start=False)  # the sandbox alone; the warm interpreter below
    rows: list[tuple[str, str]] = []
    wall, cpu = _bare_cpu_ms(python, script, rounds)
    rows.append(("bare python3 -I -u main.py (wall / CPU)", f"{wall:.2f} / {cpu:.2f} ms"))
    warm = await Sandbox.start(Settings(), slots=1)
    try:
        wall, cpu = await _build_costs(warm, (), rounds)
        rows.append(
            (
                "building one warm sandbox: the same + the interpreter's start (wall / CPU)",
                f"{wall:.2f} / {cpu:.2f} ms",
            )
        )
    finally:
        await warm.close()
    sandbox = await Sandbox.start(settings, slots=1)
    try:
        wall, cpu = await _build_costs(sandbox, (), rounds)
        rows.append(
            (
                "building one sandbox: nsjail clone, 7 namespaces, mounts, init (wall / CPU)",
                f"{wall:.2f} / {cpu:.2f} ms",
            )
        )
        # The pid namespace cannot go: /proc is mounted for the sandbox's own pid namespace.
        for ns in ("net", "ipc", "uts", "cgroup"):
            w, c = await _build_costs(sandbox, (f"--disable_clone_new{ns}",), rounds)
            rows.append((f"  ... without the {ns} namespace (wall / CPU)", f"{w:.2f} / {c:.2f} ms"))
        slot = sandbox.slots[0]
        slot.config = dataclasses.replace(slot.config, extra_nsjail_args=())
        starts = []
        for _ in range(max(5, rounds // 4)):
            await slot.reset()
            started = time.perf_counter()
            jail = await slot.load(sandbox.runtime("python").run)
            await jail.settle()
            starts.append(time.perf_counter() - started)
        rows.append(
            (
                "nsjail's own start + first sandbox (once per slot, not per run)",
                f"{median(starts) * 1000:.2f} ms",
            )
        )
        devnull = os.open(os.devnull, os.O_WRONLY)
        helps = []
        for _ in range(rounds):
            started = time.perf_counter()
            pid = os.posix_spawn(
                str(nsjail.locate(settings.nsjail_path)),
                ["nsjail", "--help"],
                {},
                file_actions=[(os.POSIX_SPAWN_DUP2, devnull, 1), (os.POSIX_SPAWN_DUP2, devnull, 2)],
            )
            os.waitpid(pid, 0)
            helps.append(time.perf_counter() - started)
        os.close(devnull)
        rows.append(
            (
                "  of which nsjail's process start alone (nsjail --help)",
                f"{median(helps) * 1000:.2f} ms",
            )
        )
        cg = []
        for _ in range(rounds):
            started = time.perf_counter()
            start = slot.cgroup.set_limits(128 << 20, 32)
            slot.cgroup.finish(start)
            cg.append(time.perf_counter() - started)
        rows.append(
            ("cgroup handling per run (set limits, read counters)", f"{median(cg) * 1000:.3f} ms")
        )
    finally:
        await sandbox.close()
    return rows


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--throughput-runs", type=int, default=400)
    args = parser.parse_args()
    python = str(Settings().python_path)
    with tempfile.TemporaryDirectory() as tmp:
        script = str(Path(tmp) / "main.py")
        Path(script).write_bytes(HELLO)
        print(
            f"# Sandbox benchmark ({platform.node()}, {os.cpu_count()} CPUs, "
            f"{time.strftime('%Y-%m-%d %H:%M')})\n"
        )
        samples = await latency(args.rounds, python, script)
        base = median(samples["bare (python3 -I -u main.py)"])
        numpy_base = median(samples.get("numpy: bare (python3 -u main.py)", [base]))
        print(f"## Hello-world latency, {args.rounds} interleaved rounds\n")
        print("| variant | median (p10, p90) | ratio to its bare run |")
        print("| --- | --- | --- |")
        for name, values in samples.items():
            own = numpy_base if name.startswith("numpy") else base
            print(f"| {name} | {summary_ms(values)} | {median(values) / own:.2f}x |")
        tp = await throughput(args.throughput_runs, python, script)
        print(
            f"\n## Sustained throughput, {args.throughput_runs} runs, "
            f"{int(tp['workers'])} at a time\n"
        )
        print("| variant | runs/s | share of bare |")
        print("| --- | --- | --- |")
        print(f"| bare | {tp['bare']:.1f} | 100% |")
        print(f"| sandboxed | {tp['sandboxed']:.1f} | {tp['sandboxed'] / tp['bare']:.0%} |")
        print(
            f"| sandboxed, fork server | {tp['fork server']:.1f} | "
            f"{tp['fork server'] / tp['bare']:.0%} |"
        )
        print(
            f"| sandboxed, cold start | {tp['cold start']:.1f} | "
            f"{tp['cold start'] / tp['bare']:.0%} |"
        )
        rows = await breakdown(max(20, args.rounds // 2), python, script)
        print("\n## Where the cost goes (medians)\n")
        print("| measurement | median |")
        print("| --- | --- |")
        for name, value in rows:
            print(f"| {name} | {value} |")


if __name__ == "__main__":
    asyncio.run(main())
