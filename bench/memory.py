"""Benchmark: memory_kb of the same programs, to compare cgroup v1 and v2 kernels.

Usage: .venv/bin/python -m bench.memory [--rounds N]

Each program runs N times in one slot (so every run after the first follows another run
of the same slot: what kernel 6.1's memory.peak, which cannot be reset, used to get wrong),
and the median, lowest and highest memory_kb are printed with the outcome. Run it on each
host or kernel and compare the medians (docs/sandbox.md, docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import textwrap
from pathlib import Path

from bench.stats import median
from onpyrunner.limits import Limits
from onpyrunner.sandbox import cgroup
from onpyrunner.sandbox.pool import Sandbox
from onpyrunner.settings import Settings

PROGRAMS = {
    "hello world": ("print('hello, world')", 128),
    "32 MiB bytearray": ("block = bytearray(32 << 20)\nprint(len(block))", 128),
    "2 processes x 24 MiB, at once": (
        """
        import os
        ready_r, ready_w = os.pipe()
        go_r, go_w = os.pipe()
        for _ in range(2):
            if os.fork() == 0:
                os.close(go_w)
                block = bytearray(24 << 20)
                os.write(ready_w, b"x")
                os.read(go_r, 1)  # hold the block until both hold theirs
                os._exit(0 if block else 1)
        for _ in range(2):
            os.read(ready_r, 1)
        os.close(go_w)
        for _ in range(2):
            os.wait()
        """,
        128,
    ),
    "memory bomb, 64 MiB limit": (
        """
        chunks = []
        while True:
            chunks.append(bytearray(8 << 20))
        """,
        64,
    ),
}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    settings = Settings()
    version = "v2" if (cgroup.CGROUP_ROOT / "cgroup.controllers").exists() else "v1"
    print(f"kernel {platform.release()}, cgroup {version}, {args.rounds} runs each, one slot")
    sandbox = await Sandbox.start(settings, slots=1)
    try:
        for name, (code, memory_mb) in PROGRAMS.items():
            limits = Limits(cpu_time_ms=5000, wall_time_ms=20000, memory_mb=memory_mb)
            source = textwrap.dedent(code).encode()
            kbs: list[float] = []
            outcomes: set[str] = set()
            for _ in range(args.rounds):
                result = await sandbox.run("python", source, b"", limits)
                kbs.append(result.usage.memory_kb)
                outcomes.add(result.outcome.value)
            print(
                f"  {name:32} memory_kb median {median(kbs):>8.0f}  "
                f"min {min(kbs):>7.0f}  max {max(kbs):>7.0f}  {'/'.join(sorted(outcomes))}"
            )
    finally:
        await sandbox.close()
    print(f"  (python: {Path(settings.python_path)})")


if __name__ == "__main__":
    asyncio.run(main())
