"""Command line: `onpyrunner serve | worker | run | check | mcp | install-systemd`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from onpyrunner.deploy import SYSTEMD_DIR, UNITS, install
from onpyrunner.errors import OnPyRunnerError
from onpyrunner.limits import LimitProblem, LimitsError
from onpyrunner.models import RunResult
from onpyrunner.settings import Settings

#: The limits `run` takes as flags.
RUN_LIMITS = ("cpu_time_ms", "wall_time_ms", "memory_mb", "output_kb")
#: The compile limits `run` takes as flags (`--compile-<name>`: at most the compile values).
COMPILE_LIMITS = ("cpu_time_ms", "wall_time_ms", "memory_mb")


def _out(text: str = "", *, err: bool = False) -> None:
    stream = sys.stderr if err else sys.stdout
    stream.write(text + "\n")
    stream.flush()


def _summary(result: RunResult) -> str:
    end = f"exit {result.exit_code}" if result.signal is None else f"signal {result.signal}"
    u = result.usage
    return (
        f"[{result.outcome}] {end}, cpu {u.cpu_time_ms} ms, wall {u.wall_time_ms} ms, "
        f"memory {u.memory_kb} KiB"
    )


def _flag_problem(problem: LimitProblem, prefix: str = "") -> str:
    flag = f"--{prefix}{problem.name.replace('_', '-')} {problem.value}"
    if problem.kind == "less_than_equal":
        ceiling = "compile limit" if prefix else "maximum"
        return f"{flag} is above the server {ceiling} {problem.bound}"
    return f"{flag} is below the minimum {problem.bound}"


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    from onpyrunner.service import run_program

    source = Path(args.file).read_bytes()
    stdin = Path(args.stdin).read_bytes() if args.stdin else b""
    requested = {name: getattr(args, name) for name in RUN_LIMITS}
    compiling = {name: getattr(args, f"compile_{name}") for name in COMPILE_LIMITS}
    try:
        result = await run_program(settings, args.language, source, stdin, requested, compiling)
    except LimitsError as e:
        prefix = "compile-" if e.for_compile else ""
        raise OnPyRunnerError("; ".join(_flag_problem(p, prefix) for p in e.problems)) from e
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


def _settings_from(args: argparse.Namespace, settings: Settings) -> Settings:
    updates: dict[str, Any] = {
        name: getattr(args, name)
        for name in ("host", "port", "redis_url", "workers")
        if getattr(args, name, None) is not None
    }
    if getattr(args, "database_url", None) is not None:
        updates["database_url"] = SecretStr(args.database_url)
    if getattr(args, "no_history", False):
        updates["history"] = False
    return settings.model_copy(update=updates) if updates else settings


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from onpyrunner.service import create_app

    settings = _settings_from(args, settings)
    common: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "lifespan": "on",
        "log_level": args.log_level,
        "ws": "websockets-sansio",
        "timeout_graceful_shutdown": int(settings.shutdown_grace_s) + 5,
    }
    if args.processes > 1:
        if not settings.redis_url:
            raise OnPyRunnerError(
                "--processes needs Redis: API processes share their jobs through it"
            )
        # Each process builds its own app from the environment, flags included.
        for name in ("host", "port", "redis_url", "workers", "history"):
            value = getattr(settings, name)
            if value is not None:
                os.environ[f"ONPYRUNNER_{name.upper()}"] = str(value)
        if settings.database_url is not None:
            os.environ["ONPYRUNNER_DATABASE_URL"] = settings.database_url.get_secret_value()
        uvicorn.run("onpyrunner.service:create_app", factory=True, workers=args.processes, **common)
        return 0
    server = uvicorn.Server(uvicorn.Config(create_app(settings), **common))
    server.run()
    return 0 if server.started else 2


async def _work(args: argparse.Namespace, settings: Settings) -> int:
    from onpyrunner.service import run_worker

    settings = _settings_from(args, settings)
    concurrency = args.concurrency or settings.effective_concurrency()
    await run_worker(settings, concurrency, args.metrics_port)
    return 0


def _log_level_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--log-level",
        dest="log_level",
        default="info",
        choices=["critical", "error", "warning", "info", "debug"],
        help="how much the service logs (default: info)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="onpyrunner", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="the HTTP API (and, without Redis, the workers)")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 8000)")
    serve.add_argument(
        "--redis-url",
        dest="redis_url",
        help="share a Redis queue with `onpyrunner worker` processes",
    )
    serve.add_argument(
        "--workers",
        type=int,
        help="runs at once in this process (default: one per core without Redis, none with Redis)",
    )
    serve.add_argument(
        "--database-url",
        dest="database_url",
        help="the history database, postgresql://user:password@host/db "
        "(default: a SQLite file under the data directory)",
    )
    serve.add_argument(
        "--no-history",
        dest="no_history",
        action="store_true",
        help="keep no history of the jobs (no /history, /stats)",
    )
    serve.add_argument(
        "--processes",
        type=int,
        default=1,
        help="API processes (needs --redis-url; --workers then counts per process)",
    )
    _log_level_option(serve)

    worker = sub.add_parser("worker", help="run jobs from a Redis queue")
    worker.add_argument("--redis-url", dest="redis_url", help="the queue's Redis URL")
    worker.add_argument("--concurrency", type=int, help="runs at once (default: one per core)")
    worker.add_argument(
        "--metrics-port",
        dest="metrics_port",
        type=int,
        help="serve this worker's Prometheus metrics on this port",
    )
    _log_level_option(worker)

    run = sub.add_parser("run", help="run one program in the sandbox")
    run.add_argument("file", help="the program's source file")
    run.add_argument("--stdin", help="file to feed as standard input")
    run.add_argument("--language", default="python", help="runtime id (default: python)")
    run.add_argument("--cpu-time-ms", dest="cpu_time_ms", type=int)
    run.add_argument("--wall-time-ms", dest="wall_time_ms", type=int)
    run.add_argument("--memory-mb", dest="memory_mb", type=int)
    run.add_argument("--output-kb", dest="output_kb", type=int)
    for name in COMPILE_LIMITS:
        flag = "--compile-" + name.replace("_", "-")
        run.add_argument(flag, dest=f"compile_{name}", type=int, help="at most the server's")
    run.add_argument("--json", action="store_true", help="print the result object as JSON")

    sub.add_parser("check", help="report what this machine supports, run each self-test")

    units = sub.add_parser(
        "install-systemd",
        help="install the systemd units (docs/deployment.md) naming this installation",
    )
    units.add_argument(
        "roles",
        nargs="*",
        metavar="{api,worker}",
        help="api: `onpyrunner serve` (the default); worker: `onpyrunner worker` (Redis)",
    )
    units.add_argument("--dir", type=Path, default=SYSTEMD_DIR, help="where the unit files go")
    units.add_argument(
        "--now", action="store_true", help="then systemctl daemon-reload and enable --now them"
    )

    mcp = sub.add_parser("mcp", help="an MCP server over stdio, for a running service")
    mcp.add_argument("--url", required=True, help="the service, e.g. http://127.0.0.1:8000")
    mcp.add_argument(
        "--token",
        default=os.environ.get("ONPYRUNNER_TOKEN"),
        help="an API token of the service (default: $ONPYRUNNER_TOKEN)",
    )
    return parser


async def _mcp(args: argparse.Namespace) -> int:
    """Serve the MCP tools over stdio (stdout is the protocol's: logs go to stderr)."""
    from onpyrunner.api.mcp.backends import HTTPBackend
    from onpyrunner.api.mcp.server import build

    backend = HTTPBackend(args.url, args.token)
    try:
        await build(backend).run_stdio_async()
    finally:
        await backend.close()
    return 0


def _install_systemd(args: argparse.Namespace) -> int:
    roles = sorted(set(args.roles or ["api"]))
    unknown = [r for r in roles if r not in UNITS]
    if unknown:
        raise ValueError(f"install-systemd: unknown role {unknown[0]!r} (api or worker)")
    for path in install(roles, args.dir, start=args.now):
        _out(f"wrote {path}")
    names = " ".join(UNITS[r] for r in roles)
    if not args.now:
        _out(f"start with: systemctl daemon-reload && systemctl enable --now {names}")
    if "worker" in roles:
        _out("a worker needs ONPYRUNNER_REDIS_URL=redis://... in /etc/default/onpyrunner")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `onpyrunner` command."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # The service's own lines (a session's signals, the start-up summary) at the level
    # asked for; the libraries it uses stay at warnings.
    logging.getLogger("onpyrunner").setLevel(getattr(args, "log_level", "warning").upper())
    try:
        settings = Settings()
        if args.command == "serve":
            return _serve(args, settings)
        if args.command == "worker":
            return asyncio.run(_work(args, settings))
        if args.command == "run":
            return asyncio.run(_run(args, settings))
        if args.command == "check":
            return asyncio.run(_check(settings))
        if args.command == "mcp":
            return asyncio.run(_mcp(args))
        if args.command == "install-systemd":
            return _install_systemd(args)
    except (OnPyRunnerError, OSError, ValueError, subprocess.CalledProcessError) as e:
        _out(f"onpyrunner: error: {e}", err=True)
        return 2
    except KeyboardInterrupt:
        return 130
    raise AssertionError(f"unhandled command {args.command}")


if __name__ == "__main__":
    sys.exit(main())
