"""Command line: `onpyrunner run | check` (and, with the job pipeline, `serve | worker`)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from onpyrunner.errors import OnPyRunnerError
from onpyrunner.models import Limits, RunResult
from onpyrunner.settings import Settings


def _out(text: str = "", *, err: bool = False) -> None:
    stream = sys.stderr if err else sys.stdout
    stream.write(text + "\n")
    stream.flush()


def _limits_from(args: argparse.Namespace, settings: Settings) -> Limits:
    chosen = settings.default_limits().model_dump()
    for name in ("cpu_time_ms", "wall_time_ms", "memory_mb", "output_kb"):
        value = getattr(args, name)
        if value is not None:
            chosen[name] = value
    for name, maximum in settings.limit_maximums().items():
        if chosen[name] > maximum:
            raise OnPyRunnerError(
                f"--{name.replace('_', '-')} {chosen[name]} is above the server maximum {maximum}"
            )
        if chosen[name] < 1 and name != "max_file_kb":
            raise OnPyRunnerError(f"--{name.replace('_', '-')} must be at least 1")
    return Limits(**chosen)


def _summary(result: RunResult) -> str:
    end = f"exit {result.exit_code}" if result.signal is None else f"signal {result.signal}"
    u = result.usage
    return (
        f"[{result.outcome}] {end}, cpu {u.cpu_time_ms} ms, wall {u.wall_time_ms} ms, "
        f"memory {u.memory_kb} KiB"
    )


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    from onpyrunner.sandbox.pool import Sandbox

    source = Path(args.file).read_bytes()
    stdin = Path(args.stdin).read_bytes() if args.stdin else b""
    limits = _limits_from(args, settings)
    sandbox = await Sandbox.start(settings, slots=1)
    try:
        result = await sandbox.run(args.language, source, stdin, limits)
    finally:
        await sandbox.close()
    if args.json:
        _out(result.model_dump_json())
    else:
        sys.stdout.write(result.stdout)
        sys.stdout.flush()
        sys.stderr.write(result.stderr)
        _out(_summary(result), err=True)
    return 0


async def _check(settings: Settings) -> int:
    from onpyrunner.sandbox.check import check_machine

    report = await check_machine(settings)
    for line in report.lines:
        _out(line)
    _out("OK: the sandbox works on this machine" if report.ok else "FAILED: see above")
    return 0 if report.ok else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="onpyrunner", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run one program in the sandbox")
    run.add_argument("file", help="the program's source file")
    run.add_argument("--stdin", help="file to feed as standard input")
    run.add_argument("--language", default="python", help="runtime id (default: python)")
    run.add_argument("--cpu-time-ms", dest="cpu_time_ms", type=int)
    run.add_argument("--wall-time-ms", dest="wall_time_ms", type=int)
    run.add_argument("--memory-mb", dest="memory_mb", type=int)
    run.add_argument("--output-kb", dest="output_kb", type=int)
    run.add_argument("--json", action="store_true", help="print the result object as JSON")

    sub.add_parser("check", help="report what this machine supports, run each self-test")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `onpyrunner` command."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = Settings()
        if args.command == "run":
            return asyncio.run(_run(args, settings))
        if args.command == "check":
            return asyncio.run(_check(settings))
    except (OnPyRunnerError, OSError, ValueError) as e:
        _out(f"onpyrunner: error: {e}", err=True)
        return 2
    except KeyboardInterrupt:
        return 130
    raise AssertionError(f"unhandled command {args.command}")


if __name__ == "__main__":
    sys.exit(main())
