"""Command line: `onpyrunner serve | worker | run | check`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

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


def _settings_from(args: argparse.Namespace, settings: Settings) -> Settings:
    updates = {
        name: getattr(args, name)
        for name in ("host", "port", "redis_url", "workers")
        if getattr(args, name, None) is not None
    }
    return settings.model_copy(update=updates) if updates else settings


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from onpyrunner.api.app import create_app

    settings = _settings_from(args, settings)
    common: dict[str, Any] = {
        "host": settings.host, "port": settings.port, "lifespan": "on",
        "log_level": args.log_level, "ws": "websockets-sansio",
        "timeout_graceful_shutdown": int(settings.shutdown_grace_s) + 5,
    }  # fmt: skip
    if args.processes > 1:
        if not settings.redis_url:
            raise OnPyRunnerError(
                "--processes needs Redis: API processes share their jobs through it"
            )
        # Each process builds its own app from the environment, flags included.
        for name in ("host", "port", "redis_url", "workers"):
            value = getattr(settings, name)
            if value is not None:
                os.environ[f"ONPYRUNNER_{name.upper()}"] = str(value)
        uvicorn.run("onpyrunner.api.app:create_app", factory=True, workers=args.processes, **common)
        return 0
    server = uvicorn.Server(uvicorn.Config(create_app(settings), **common))
    server.run()
    return 0 if server.started else 2


async def _work(args: argparse.Namespace, settings: Settings) -> int:
    from prometheus_client import start_http_server

    from onpyrunner.metrics import Metrics
    from onpyrunner.queue.redis import RedisStore
    from onpyrunner.sandbox.pool import Sandbox
    from onpyrunner.worker.loop import Worker

    settings = _settings_from(args, settings)
    if not settings.redis_url:
        raise OnPyRunnerError("a worker needs Redis: give --redis-url or ONPYRUNNER_REDIS_URL")
    concurrency = args.concurrency or settings.effective_concurrency()
    store = RedisStore(settings, settings.redis_url)
    await store.open()
    sandbox = None
    try:
        sandbox = await Sandbox.start(settings.model_copy(update={"concurrency": concurrency}))
        metrics = Metrics()
        metrics.watch_sandbox(sandbox.compile_stats, sandbox.rebuilds)
        if args.metrics_port:
            start_http_server(args.metrics_port, addr=settings.host, registry=metrics.registry)
        worker = Worker(store, sandbox, settings, concurrency, metrics)
        worker.start()
        logging.getLogger("onpyrunner").warning(
            "worker %s: %d at a time, runtimes %s",
            worker.id,
            concurrency,
            ", ".join(sorted(sandbox.runtimes)),
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await worker.drain(settings.shutdown_grace_s)
    finally:
        if sandbox is not None:
            await sandbox.close()
        await store.close()
    return 0


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
        "--processes",
        type=int,
        default=1,
        help="API processes (needs --redis-url; --workers then counts per process)",
    )
    serve.add_argument(
        "--log-level",
        dest="log_level",
        default="info",
        choices=["critical", "error", "warning", "info", "debug"],
    )

    worker = sub.add_parser("worker", help="run jobs from a Redis queue")
    worker.add_argument("--redis-url", dest="redis_url", help="the queue's Redis URL")
    worker.add_argument("--concurrency", type=int, help="runs at once (default: one per core)")
    worker.add_argument(
        "--metrics-port",
        dest="metrics_port",
        type=int,
        help="serve this worker's Prometheus metrics on this port",
    )

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
        if args.command == "serve":
            return _serve(args, settings)
        if args.command == "worker":
            return asyncio.run(_work(args, settings))
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
