"""Helpers to run the real service in tests: uvicorn servers and worker processes on
loopback, their readiness awaited on their own log lines, never on sleeps."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import redis
from websockets.sync.client import connect

ROOT = Path(__file__).parent.parent
REDIS_URL = os.environ.get("ONPYRUNNER_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
#: How long a service may take to start (software emulation, as in the v2 VM of
#: scripts/v2proof, takes longer: ONPYRUNNER_TEST_START_TIMEOUT_S there).
START_TIMEOUT_S = float(os.environ.get("ONPYRUNNER_TEST_START_TIMEOUT_S", "60"))


_instances = itertools.count(1)


def uid_base() -> int:
    """A sandbox uid range of its own for each service a test starts (64 slots each), so
    that test runs side by side never share a sandbox uid."""
    return 2_000_000 + ((os.getpid() % 2048) * 16 + next(_instances) % 16) * 64


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def unique_prefix() -> str:
    """A Redis key prefix of this test run alone."""
    return f"onpyrunner-test-{uuid.uuid4().hex[:10]}:"


def delete_prefix(url: str, prefix: str) -> None:
    """Delete this test's keys, and only them."""
    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
    except redis.ConnectionError:
        pass  # a test's own redis-server, already gone, and its keys with it
    finally:
        client.close()


class Process:
    """A child `python -m onpyrunner ...` whose log is read line by line. Its data directory
    (the SQLite history) is a temporary one of its own unless env names one."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.data_dir = tempfile.mkdtemp(prefix="onpyrunner-data-")
        full_env = {
            **os.environ,
            "ONPYRUNNER_SANDBOX_UID_BASE": str(uid_base()),
            "ONPYRUNNER_DATA_DIR": self.data_dir,
            **env,
            "PYTHONUNBUFFERED": "1",
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "onpyrunner", *args],
            cwd=ROOT,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._ended = False
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        """Keep draining the log (a full pipe would stall the process)."""
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self._ended = True
            self._changed.notify_all()

    def wait_for_line(self, needle: str, timeout_s: float = START_TIMEOUT_S, count: int = 1) -> str:
        """Wait until count log lines contain needle; fail if the process ends first."""
        with self._changed:
            seen = 0
            found = 0
            deadline = time.monotonic() + timeout_s
            while True:
                for line in self.lines[seen:]:
                    if needle in line:
                        found += 1
                        if found == count:
                            return line
                seen = len(self.lines)
                if self._ended:
                    raise AssertionError(
                        f"process ended (exit {self.proc.wait()}):\n" + "".join(self.lines)
                    )
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"no {needle!r} within {timeout_s} s:\n" + "".join(self.lines)
                    )
                self._changed.wait(remaining)

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout_s: float = 60.0) -> int:
        """The exit status."""
        code = self.proc.wait(timeout=timeout_s)
        self._reader.join(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        shutil.rmtree(self.data_dir, ignore_errors=True)
        if any("Traceback" in line for line in self.lines):
            # shown with the report of a failing test (pytest keeps stderr for those)
            sys.stderr.write(f"log of {self.proc.args!r}, with a traceback:\n")
            sys.stderr.write("".join(self.lines[-400:]))
        return code

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.wait(10)


class Server(Process):
    """`onpyrunner serve` on a free loopback port."""

    def __init__(
        self,
        *,
        redis_url: str | None = None,
        workers: int | None = None,
        env: dict[str, str] | None = None,
        processes: int = 1,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = ["serve", "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "info"]
        if redis_url:
            args += ["--redis-url", redis_url]
        if workers is not None:
            args += ["--workers", str(workers)]
        if processes > 1:
            args += ["--processes", str(processes)]
        super().__init__(args, env or {})
        self.wait_for_line("Uvicorn running on")  # logged once the port is bound
        self.wait_for_line("Application startup complete", count=processes)
        self.http = httpx.Client(base_url=self.url, timeout=60)

    def stop(self) -> int:
        self.http.close()
        return super().stop()

    def submit(self, body: dict[str, Any], wait: str | None = None) -> httpx.Response:
        params = {"wait": wait} if wait is not None else None
        return self.http.post("/execute", json=body, params=params)

    def run(self, body: dict[str, Any]) -> dict[str, Any]:
        """Submit and wait for the finished job."""
        response = self.submit(body, wait="true")
        assert response.status_code == 200, response.text
        job: dict[str, Any] = response.json()
        return job

    def events(self, job_id: str, timeout_s: float = 60.0) -> list[dict[str, Any]]:
        """Every message of the job's WebSocket until the server closes it."""
        messages: list[dict[str, Any]] = []
        ws_url = self.url.replace("http", "ws") + f"/jobs/{job_id}/events"
        with connect(ws_url, open_timeout=10, close_timeout=10) as ws:
            deadline = time.monotonic() + timeout_s
            while True:
                remaining = deadline - time.monotonic()
                assert remaining > 0, f"events of {job_id} did not end: {messages}"
                try:
                    messages.append(json.loads(ws.recv(timeout=remaining)))
                except Exception as e:  # the close
                    if type(e).__name__.startswith("ConnectionClosed"):
                        return messages
                    raise

    def wait_until(self, job_id: str, statuses: set[str], timeout_s: float = 60) -> dict[str, Any]:
        """Watch the job's WebSocket until its status is one of statuses."""
        ws_url = self.url.replace("http", "ws") + f"/jobs/{job_id}/events"
        with connect(ws_url, open_timeout=10) as ws:
            deadline = time.monotonic() + timeout_s
            while True:
                remaining = deadline - time.monotonic()
                assert remaining > 0, f"job {job_id} never reached {statuses}"
                message: dict[str, Any] = json.loads(ws.recv(timeout=remaining))
                if message.get("status") in statuses:
                    return message


class WorkerProcess(Process):
    """`onpyrunner worker` with its own metrics port."""

    def __init__(self, redis_url: str, env: dict[str, str], concurrency: int = 1) -> None:
        self.metrics_port = free_port()
        super().__init__(
            [
                "worker",
                "--redis-url",
                redis_url,
                "--concurrency",
                str(concurrency),
                "--metrics-port",
                str(self.metrics_port),
            ],
            {**env, "ONPYRUNNER_HOST": "127.0.0.1"},
        )
        self.wait_for_line("at a time, runtimes")

    def finished_count(self) -> float:
        text = httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=10).text
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("onpyrunner_jobs_finished_total{")
        )


@contextmanager
def server(**kwargs: Any) -> Iterator[Server]:
    s = Server(**kwargs)
    try:
        yield s
    finally:
        s.stop()


@contextmanager
def own_redis() -> Iterator[tuple[str, int, str]]:
    """A redis-server of this test's own on a free loopback port."""
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="onpyrunner-redis-")
    proc = start_redis(port, workdir)
    try:
        yield f"redis://127.0.0.1:{port}/0", port, workdir
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stdout:
            proc.stdout.close()
        shutil.rmtree(workdir, ignore_errors=True)


def start_redis(port: int, workdir: str) -> subprocess.Popen[bytes]:
    """A redis-server on 127.0.0.1:port that keeps nothing on disk, once it is ready."""
    proc = subprocess.Popen(
        [
            "redis-server",
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            workdir,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    wait_redis_ready(proc)
    return proc


def wait_redis_ready(proc: subprocess.Popen[bytes]) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:  # redis-server says when it accepts connections
        if b"Ready to accept connections" in line:
            return
    raise AssertionError("redis-server did not start")
