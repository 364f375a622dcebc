"""PostgreSQL for the history tests: a database of a test's own on the machine's server
(127.0.0.1:5432, trust auth; ONPYRUNNER_TEST_POSTGRES_URL to use another), created and
dropped by the test; or a private `postgres` server in a temporary directory on a free
port, which a test may stop and start again (it runs as the `postgres` user: root only)."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import asyncpg

from tests.service import free_port

#: The machine's server, as an admin connection (to its `postgres` database).
ADMIN_URL = os.environ.get("ONPYRUNNER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432")
READY = "database system is ready to accept connections"
START_TIMEOUT_S = 60.0


def url_of(admin_url: str, database: str, driver: str = "postgresql+asyncpg") -> str:
    """The URL of a database on the server of admin_url."""
    rest = admin_url.split("://", 1)[1].rstrip("/")
    return f"{driver}://{rest}/{database}"


@asynccontextmanager
async def own_database(admin_url: str = ADMIN_URL) -> AsyncIterator[str]:
    """A fresh database of this test's own (its SQLAlchemy URL); dropped at the end."""
    name = f"onpyrunner_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(f"{admin_url}/postgres", timeout=10)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield url_of(admin_url, name)
    finally:
        admin = await asyncpg.connect(f"{admin_url}/postgres", timeout=10)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


async def emptied(url: str) -> None:
    """Drop everything in the database of url (a SQLAlchemy URL): its public schema is
    made again, empty, as in a new database."""
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"), timeout=10)
    try:
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    finally:
        await conn.close()


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=_version)
    if not found:
        raise AssertionError(f"no {name}: install Debian's postgresql (scripts/test does)")
    return found[-1]


def _version(path: str) -> int:
    return int(Path(path).parent.parent.name.split(".")[0])


class PrivatePostgres:
    """A `postgres` of a test's own on 127.0.0.1:port, data in a temporary directory."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="onpyrunner-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self.admin_url = f"postgresql://postgres@127.0.0.1:{self.port}"
        shutil.chown(self.dir, "postgres", "postgres")
        subprocess.run(
            [_bin("initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
            user="postgres",
            check=True,
            capture_output=True,
        )
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        """Start the server; return once it accepts connections."""
        assert self.proc is None
        self.proc = subprocess.Popen(
            [
                _bin("postgres"),
                "-D",
                str(self.data),
                "-p",
                str(self.port),
                "-k",
                str(self.dir),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
            ],
            user="postgres",
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert self.proc.stdout is not None
        seen = []
        for line in self.proc.stdout:  # postgres says when it accepts connections
            seen.append(line)
            if READY in line:
                # keep draining its log: a full pipe would stall the server
                threading.Thread(target=self.proc.stdout.read, daemon=True).start()
                return
        raise AssertionError("postgres did not start:\n" + "".join(seen))

    def stop(self) -> None:
        """Stop the server (fast shutdown: connections are cut)."""
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(60)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.proc = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """A private PostgreSQL server, started; stopped and removed at the end."""
    server = PrivatePostgres()
    try:
        server.start()
        yield server
    finally:
        server.remove()
