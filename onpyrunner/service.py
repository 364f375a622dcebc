"""The assembly: each process of the service built from its settings.

`serve` is the API over a job store, with (embedded default) or without (Redis) workers
of its own; `worker` is workers over a Redis store; `run` is one program in a sandbox. Only
this module (and the CLI through it) puts the store, the language catalogue, the sandbox,
the workers and the API together; each layer gets its part.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from onpyrunner import __version__
from onpyrunner.api.app import create_api
from onpyrunner.api.services import Services
from onpyrunner.errors import ConfigError, HistoryUnavailableError
from onpyrunner.history.store import HistoryStore
from onpyrunner.history.writer import HistoryWriter
from onpyrunner.limits import LimitTable
from onpyrunner.metrics import Metrics
from onpyrunner.models import RunResult
from onpyrunner.queue.memory import MemoryStore
from onpyrunner.queue.store import JobStore
from onpyrunner.sandbox import policy
from onpyrunner.sandbox.pool import Sandbox
from onpyrunner.settings import Settings
from onpyrunner.worker.execute import SandboxRunner
from onpyrunner.worker.loop import Worker

log = logging.getLogger(__name__)

#: On shutdown, how long the history writer may take to write the batch it holds.
HISTORY_STOP_GRACE_S = 5.0


def limit_table(settings: Settings) -> LimitTable:
    """The server's limits, proven enforceable by the sandbox policy.

    Raises:
        ConfigError: a limit setting the policy's backstops cannot enforce.
    """
    return settings.limit_table().checked_against(policy.base_values(), "base.cfg")


def in_process_workers(settings: Settings) -> int:
    """Concurrent runs of `serve`'s own workers: the setting, else one per core without
    Redis and none with it."""
    if settings.workers is not None:
        return settings.workers
    return 0 if settings.redis_url else settings.effective_concurrency()


def make_store(settings: Settings) -> tuple[JobStore, str]:
    """The job store the settings ask for, and its backend's name."""
    if settings.redis_url:
        from onpyrunner.queue.redis import RedisStore  # the embedded default needs no Redis

        return RedisStore(settings, settings.redis_url), "redis"
    return MemoryStore(settings), "memory"


async def start_worker(
    store: JobStore, settings: Settings, concurrency: int, metrics: Metrics
) -> tuple[Sandbox, Worker]:
    """A sandbox pool and a worker over it, claiming from store.

    Raises:
        SandboxError: the sandbox cannot work here; says what is missing.
    """
    sandbox = await Sandbox.start(settings.model_copy(update={"concurrency": concurrency}))
    metrics.watch_sandbox(sandbox.compile_stats, sandbox.rebuilds)
    worker = Worker(store, SandboxRunner(sandbox), settings, concurrency, metrics)
    worker.start()
    return sandbox, worker


def make_history(settings: Settings) -> HistoryStore | None:
    """The history database the settings ask for (not connected yet), or None when off.

    Raises:
        ConfigError: a database URL of an unsupported kind.
    """
    if not settings.history:
        return None
    keep = settings.history_content_max_kb * 1024 if settings.history_keep_content else None
    return HistoryStore(settings.history_url(), keep_content_bytes=keep)


async def start_history(
    history: HistoryStore, store: JobStore, settings: Settings, metrics: Metrics
) -> HistoryWriter:
    """The history's schema brought up to date (when the database answers: otherwise the
    writer does it once it does), and its writer and purge started."""
    try:
        await history.prepare()
    except HistoryUnavailableError as e:
        log.warning("history database unavailable at start (%s): jobs run, their rows wait", e)
    metrics.watch_history()
    writer = HistoryWriter(store, history, settings, metrics)
    writer.start()
    return writer


@asynccontextmanager
async def serving(settings: Settings, limits: LimitTable) -> AsyncIterator[Services]:
    """The API's services for the app's lifespan: the store, and the workers of this
    process when it has any; stopped gracefully at the end."""
    store, backend = make_store(settings)
    history = make_history(settings)
    await store.open()
    metrics = Metrics()
    sandbox: Sandbox | None = None
    worker: Worker | None = None
    writer: HistoryWriter | None = None
    try:
        if history is not None:
            writer = await start_history(history, store, settings, metrics)
        workers = in_process_workers(settings)
        if workers:
            sandbox, worker = await start_worker(store, settings, workers, metrics)
        log.info(
            "OnPyRunner %s: %s backend, %d in-process workers, history %s",
            __version__,
            backend,
            workers,
            history.description if history is not None else "off",
        )
        yield Services(
            settings=settings,
            limits=limits,
            store=store,
            metrics=metrics,
            backend=backend,
            workers_alive=(lambda: worker.alive) if worker is not None else None,
            history=history,
            history_writer=writer,
        )
    finally:
        if worker is not None:
            await worker.drain(settings.shutdown_grace_s)
        if sandbox is not None:
            await sandbox.close()
        if writer is not None:
            await writer.stop(HISTORY_STOP_GRACE_S)
        if history is not None:
            await history.close()
        await store.close()


def create_app(settings: Settings | None = None) -> FastAPI:
    """The service's ASGI app (uvicorn's factory for `serve --processes N` too)."""
    settings = settings or Settings()
    limits = limit_table(settings)
    return create_api(settings, lambda: serving(settings, limits))


async def run_worker(settings: Settings, concurrency: int, metrics_port: int | None) -> None:
    """`onpyrunner worker`: run jobs from Redis until SIGTERM or SIGINT, then drain.

    Raises:
        ConfigError: no Redis URL, or limits the policy cannot enforce.
        SandboxError: the sandbox cannot work here.
    """
    from prometheus_client import start_http_server

    if not settings.redis_url:
        raise ConfigError("a worker needs Redis: give --redis-url or ONPYRUNNER_REDIS_URL")
    limit_table(settings)
    store, _ = make_store(settings)
    await store.open()
    sandbox: Sandbox | None = None
    try:
        metrics = Metrics()
        sandbox, worker = await start_worker(store, settings, concurrency, metrics)
        if metrics_port:
            start_http_server(metrics_port, addr=settings.host, registry=metrics.registry)
        log.warning(
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


async def run_program(
    settings: Settings,
    language: str,
    source: bytes,
    stdin: bytes,
    requested: dict[str, int | None],
    compiling: dict[str, int | None] | None = None,
) -> RunResult:
    """`onpyrunner run`: one program in a one-slot sandbox, with the server's limits.

    Args:
        requested: the run's limits asked for; compiling: its compile's (at most the
            server's compile values).

    Raises:
        LimitsError: a requested limit outside the server's bounds.
        UnknownLanguageError, SandboxError: as Sandbox.run.
    """
    table = limit_table(settings)
    limits = table.resolve(requested)
    compile_limits = table.resolve(compiling or {}, for_compile=True)
    sandbox = await Sandbox.start(settings, slots=1)
    try:
        prepared = await sandbox.prepare(language, source, compile_limits=compile_limits)
        return await sandbox.run_prepared(prepared, stdin, limits)
    finally:
        await sandbox.close()
