"""Real servers for the API tests: one per backend, on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.service import REDIS_URL, Server, delete_prefix, server, unique_prefix

BACKENDS = ["memory", "redis"]


@pytest.fixture(scope="session")
def memory_server() -> Iterator[Server]:
    with server(workers=2) as s:
        yield s


@pytest.fixture(scope="session")
def redis_server() -> Iterator[Server]:
    prefix = unique_prefix()
    try:
        with server(redis_url=REDIS_URL, workers=2, env={"ONPYRUNNER_REDIS_PREFIX": prefix}) as s:
            yield s
    finally:
        delete_prefix(REDIS_URL, prefix)


@pytest.fixture(params=BACKENDS)
def api(request: pytest.FixtureRequest) -> Server:
    """The contract's server, once per backend."""
    found: Server = request.getfixturevalue(f"{request.param}_server")
    return found


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """A backend name, for tests that start a server of their own."""
    return str(request.param)


@contextmanager
def custom_server(backend: str, workers: int = 2, **env: str) -> Iterator[Server]:
    """A server of its own for one test, with extra ONPYRUNNER_* settings."""
    settings_env = {f"ONPYRUNNER_{k.upper()}": v for k, v in env.items()}
    if backend == "memory":
        with server(workers=workers, env=settings_env) as s:
            yield s
        return
    prefix = unique_prefix()
    try:
        with server(
            redis_url=REDIS_URL,
            workers=workers,
            env={**settings_env, "ONPYRUNNER_REDIS_PREFIX": prefix},
        ) as s:
            yield s
    finally:
        delete_prefix(REDIS_URL, prefix)
