"""Benchmark: every language's hello world, sandboxed versus bare; compile cold and cached.

Usage (as root): .venv/bin/python -m bench.languages [--rounds N]

For each runtime present:
  - bare: the runtime's own run command on the host (for compiled languages, the program
    compiled on the host with the same compile command), started with asyncio's
    subprocess, output captured;
  - sandboxed: `await sandbox.run_prepared(...)`, the program prepared once (so the
    compile is not in this figure), low load (the slot's next sandbox is ready);
  - compile, cold: `sandbox.prepare` of a source never seen (a fresh comment in it);
  - compile, cached: `sandbox.prepare` of a source just compiled (a cache hit).
Medians, interleaved round by round.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

from bench.stats import median
from onpyrunner.limits import Limits
from onpyrunner.models import Outcome
from onpyrunner.sandbox.pool import Sandbox
from onpyrunner.sandbox.runtimes import Runtime
from onpyrunner.settings import Settings
from tests.sandbox.test_languages import PROGRAMS

COMMENT = {
    "python": "#",
    "pypy": "#",
    "bash": "#",
    "c": "//",
    "cpp": "//",
    "java": "//",
    "javascript": "//",
    "rust": "//",
    "go": "//",
}
LIMITS = Limits()
BARE_ENV = {
    "PATH": "/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "HOME": "/tmp",
    "GOCACHE": "/tmp/onpyrunner-bench-gocache",
    "GOPATH": "/tmp/onpyrunner-bench-go",
}


def _host_argv(argv: list[str], workdir: Path) -> list[str]:
    return [a.replace("/sandbox", str(workdir)) for a in argv]


async def _bare(argv: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        *argv,
        cwd=cwd,
        env=BARE_ENV,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert out == b"hello, world\n", (argv, out, err)
    return time.perf_counter() - started


async def _prepare_bare(runtime: Runtime, source: str, workdir: Path) -> list[str]:
    """Write (and compile, on the host) the program; the argv of its bare run."""
    file_name, main = runtime.source_name(source)
    (workdir / file_name).write_text(source)
    if runtime.compile is not None:
        argv = _host_argv(runtime.compile.argv(file_name, main, LIMITS), workdir)
        proc = await asyncio.create_subprocess_exec(*argv, cwd=workdir, env=BARE_ENV)
        assert await proc.wait() == 0, argv
    return _host_argv(runtime.run.argv(file_name, main, LIMITS), workdir)


async def measure(sandbox: Sandbox, runtime: Runtime, rounds: int) -> dict[str, float]:
    source = PROGRAMS[runtime.id].hello
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        workdir.chmod(0o755)
        bare_argv = await _prepare_bare(runtime, source, workdir)
        prepared = await sandbox.prepare(runtime.id, source.encode())
        bare, boxed, cold, cached = [], [], [], []
        for i in range(rounds + 2):  # runs first: a compile would take a slot's nsjail away
            b = await _bare(bare_argv, workdir)
            await sandbox.settle()
            started = time.perf_counter()
            result = await sandbox.run_prepared(prepared, b"", LIMITS)
            s = time.perf_counter() - started
            assert result.outcome is Outcome.SUCCESS, result
            if i >= 2:
                bare.append(b)
                boxed.append(s)
        for _ in range(min(rounds, 6) if runtime.compile is not None else 0):
            fresh = f"{source}\n{COMMENT[runtime.id]} {os.urandom(8).hex()}\n"
            started = time.perf_counter()
            await sandbox.prepare(runtime.id, fresh.encode())
            cold.append(time.perf_counter() - started)
            started = time.perf_counter()
            hit = await sandbox.prepare(runtime.id, fresh.encode())
            cached.append(time.perf_counter() - started)
            assert hit.cached
    row = {"bare": median(bare), "sandboxed": median(boxed)}
    if cold:
        row.update(cold=median(cold), cached=median(cached))
    return row


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    # A cache of the benchmark's own (cold compiles stay cold), on the work directory's
    # filesystem as the default one is, so that programs are hard-linked, not copied.
    cache = Path(tempfile.mkdtemp(prefix="onpyrunner-bench-cache-", dir="/dev/shm"))
    settings = Settings(compile_cache_dir=cache)
    sandbox = await Sandbox.start(settings)
    try:
        print(
            f"# Languages benchmark ({platform.node()}, {os.cpu_count()} CPUs, "
            f"{time.strftime('%Y-%m-%d %H:%M')}), {args.rounds} rounds\n"
        )
        print(
            "| language | version | bare hello | sandboxed hello | ratio "
            "| compile, cold | compile, cached |"
        )
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for runtime in sandbox.runtimes.values():
            row = await measure(sandbox, runtime, args.rounds)
            compile_cells = (
                f"{row['cold'] * 1000:.0f} ms | {row['cached'] * 1000:.1f} ms"
                if "cold" in row
                else "– | –"
            )
            print(
                f"| {runtime.id} | {runtime.version} | {row['bare'] * 1000:.1f} ms | "
                f"{row['sandboxed'] * 1000:.1f} ms | {row['sandboxed'] / row['bare']:.2f}x | "
                f"{compile_cells} |"
            )
    finally:
        await sandbox.close()
        if settings.compile_cache_dir is not None:
            shutil.rmtree(settings.compile_cache_dir, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
