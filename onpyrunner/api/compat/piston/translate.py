"""Piston v2's execute request to the native job request, and the native job back to
Piston's answer: pure functions (docs/piston.md says field by field what each does).

In: `language` (a name or alias) and `version` (a selector, languages.py) pick the
runtime; the first utf8 file is the program, the other files go beside it (decoded from
utf8, base64 or hex); `stdin` gets a trailing newline when it has none (as Piston does);
`args` follow the run command. Limits convert here, at the edge: `run_timeout` is the wall
time in ms, `run_cpu_time` the CPU time in ms, `run_memory_limit` bytes (-1: the server's
default; rounded up to whole MiB), and `compile_timeout`, `compile_cpu_time` and
`compile_memory_limit` likewise the native `compile_limits`. A limit above the server's
maximum (a compile limit above its compile value) is refused by the native path, and the
refusal says it in Piston's words and units.

Out: `{language, version, run, compile?}`; a stage is `{stdout, stderr, output, code,
signal, message, status, cpu_time, wall_time, memory}` with Isolate's statuses as Piston
passes them on (RE, SG, TO, plus Piston's OL and EL, and XX for the service's own failure).
A compiled language has a compile stage (its wall_time the native compile_time_ms); when
the compile fails, `run` is a copy of it.
"""

from __future__ import annotations

import base64
import binascii
import math
import signal as signals
from dataclasses import dataclass, field
from typing import Any

from onpyrunner.api.compat.piston.languages import BY_NAME, PistonLanguage, satisfies
from onpyrunner.limits import Limits
from onpyrunner.models import Job, JobStatus, Outcome, RunResult

MIB = 1024 * 1024
#: How the sandbox's compile result says a compile was stopped for time (sandbox/pool.py).
COMPILE_TIME_STOPPED = "compilation stopped: over its time limit"

#: Piston's limit fields: (stage, constraint) -> the native limit, and its unit factor
#: (Piston's unit in the native one: bytes per MiB for memory).
LIMIT_FIELDS: dict[str, tuple[str, int]] = {
    "run_timeout": ("wall_time_ms", 1),
    "run_cpu_time": ("cpu_time_ms", 1),
    "run_memory_limit": ("memory_mb", MIB),
    "compile_timeout": ("wall_time_ms", 1),
    "compile_cpu_time": ("cpu_time_ms", 1),
    "compile_memory_limit": ("memory_mb", MIB),
}
_ORDER = ("memory_limit", "timeout", "cpu_time")  # Piston checks them in this order
#: Piston's limit fields in the order Piston checks them.
CHECK_ORDER = tuple(f"{stage}_{c}" for c in _ORDER for stage in ("compile", "run"))


class PistonError(Exception):
    """A request Piston would refuse: its status and message ({"message": ...})."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class PistonRequest:
    """An execute request (or a /connect init), translated."""

    language: PistonLanguage
    version: str
    source_code: str
    stdin: str
    args: list[str]
    files: dict[str, str] = field(default_factory=dict)  # path -> base64
    #: Native limits asked for (None: the default), in native units.
    limits: dict[str, int | None] = field(default_factory=dict)
    #: Native compile limits asked for (None: the server's compile value), native units.
    compile_limits: dict[str, int | None] = field(default_factory=dict)

    def job_body(self, interactive: bool = False) -> dict[str, Any]:
        """The native request (POST /execute's body)."""
        body: dict[str, Any] = {
            "language": self.language.runtime,
            "source_code": self.source_code,
            "stdin": self.stdin,
            "limits": {k: v for k, v in self.limits.items() if v is not None},
            "interleave_output": not interactive,
            "interactive": interactive,
        }
        compile_limits = {k: v for k, v in self.compile_limits.items() if v is not None}
        if compile_limits:
            body["compile_limits"] = compile_limits
        if self.files:
            body["files"] = {
                name: {"content": content, "encoding": "base64"}
                for name, content in self.files.items()
            }
        if self.args:
            body["args"] = self.args
        return body


def _string(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not value or not isinstance(value, str):
        raise PistonError(f"{name} is required as a string")
    return value


def _decode(content: str, encoding: str, i: int) -> bytes:
    try:
        if encoding == "base64":
            return base64.b64decode(content, validate=True)
        if encoding == "hex":
            return bytes.fromhex(content)
    except (ValueError, binascii.Error) as e:
        raise PistonError(f"files[{i}].content is not valid {encoding}: {e}") from e
    return content.encode(errors="surrogatepass")


def _program(files: list[Any]) -> tuple[str, dict[str, str]]:
    """The program's source (the first utf8 file) and the other files, by name."""
    main: str | None = None
    others: dict[str, str] = {}
    for i, file in enumerate(files):
        if not isinstance(file, dict) or not isinstance(file.get("content"), str):
            raise PistonError(f"files[{i}].content is required as a string")
        encoding = file.get("encoding")
        encoding = encoding if encoding in ("base64", "hex", "utf8") else "utf8"
        if main is None and encoding == "utf8":
            main = file["content"]
            continue
        name = file.get("name")
        name = name if isinstance(name, str) and name else f"file{i}.code"
        content = _decode(file["content"], encoding, i)
        others[name] = base64.b64encode(content).decode()
    if main is None:
        raise PistonError("files must include at least one utf8 encoded file")
    return main, others


def _limit(body: dict[str, Any], name: str) -> int | None:
    """A Piston limit in native units, checked as Piston checks its type and sign; None
    when not given (or -1 for memory: the default). Its maximum is the native path's."""
    value = body.get(name)
    if not value:  # absent, null or 0: Piston's default
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PistonError(f"If specified, {name} must be a number")
    if not math.isfinite(value):
        raise PistonError(f"If specified, {name} must be a number")
    native, factor = LIMIT_FIELDS[name]
    if value == -1 and native == "memory_mb":
        return None
    if value < 0:
        raise PistonError(f"{name} must be non-negative")
    return max(1, math.ceil(value / factor))


def _limits(body: dict[str, Any]) -> dict[str, dict[str, int | None]]:
    """The run and compile limits asked for, by stage, in native units. Their maximums are
    the native path's (which answers in native units; routes.py restates it)."""
    limits: dict[str, dict[str, int | None]] = {"run": {}, "compile": {}}
    for name in CHECK_ORDER:
        stage = name.partition("_")[0]
        limits[stage][LIMIT_FIELDS[name][0]] = _limit(body, name)
    return limits


def _input(body: dict[str, Any], interactive: bool) -> tuple[str, list[str]]:
    """stdin (with Piston's trailing newline, unless interactive) and args."""
    stdin = body.get("stdin")
    if stdin is None:
        stdin = ""
    if not isinstance(stdin, str):
        raise PistonError("If specified, stdin must be a string")
    if not interactive and not stdin.endswith("\n"):
        stdin += "\n"  # as Piston does
    args = body.get("args")
    if args is None:
        args = []
    if not isinstance(args, list) or not all(
        isinstance(a, str | int | float) and not isinstance(a, bool) for a in args
    ):
        raise PistonError("If specified, args must be an array of strings")
    return stdin, [str(a) for a in args]


def parse(
    body: Any,
    offered: dict[str, str],
    strict_versions: bool,
    interactive: bool = False,
) -> PistonRequest:
    """An execute request (or a /connect init), checked in Piston's order and words.

    Args:
        offered: runtime id -> version (three parts) of what the live workers run.
        interactive: a /connect session: stdin is taken as it is (no newline added).

    Raises:
        PistonError: what Piston would answer (400 and its message).
    """
    if not isinstance(body, dict):
        raise PistonError("language is required as a string")
    language = _string(body, "language")
    version = _string(body, "version")
    files = body.get("files")
    if not files or not isinstance(files, list):
        raise PistonError("files is required as an array")
    for i, file in enumerate(files):
        if not isinstance(file, dict) or not isinstance(file.get("content"), str):
            raise PistonError(f"files[{i}].content is required as a string")
    lang = BY_NAME.get(language)
    installed = offered.get(lang.runtime) if lang is not None else None
    if lang is None or installed is None:
        raise PistonError(f"{language}-{version} runtime is unknown")
    if strict_versions and not satisfies(installed, version):
        raise PistonError(f"{language}-{version} runtime is unknown")
    source, others = _program(files)
    stdin, args = _input(body, interactive)
    limits = _limits(body)
    return PistonRequest(
        language=lang,
        version=installed,
        source_code=source,
        stdin=stdin,
        args=args,
        files=others,
        limits=limits["run"],
        compile_limits=limits["compile"],
    )


def limit_field(native: str, stage: str = "run") -> str:
    """The Piston field of a native limit of a stage ("run" or "compile")."""
    constraint = {"wall_time_ms": "timeout", "cpu_time_ms": "cpu_time"}.get(native, "memory_limit")
    return f"{stage}_{constraint}"


def limit_message(native: str, bound: int, stage: str = "run") -> str:
    """A native limit refusal ("at most {bound}") in Piston's words and units."""
    factor = MIB if native == "memory_mb" else 1
    return f"{limit_field(native, stage)} cannot exceed the configured limit of {bound * factor}"


# --- the answer ---------------------------------------------------------------------------


def signal_name(number: int | None) -> str | None:
    """ "SIGKILL" for 9; None for no signal (or one Linux does not name)."""
    if number is None:
        return None
    try:
        return signals.Signals(number).name
    except ValueError:
        return None


def _stage(
    stdout: str,
    stderr: str,
    output: str,
    code: int | None,
    signal: str | None,
    message: str | None,
    status: str | None,
    cpu_time: int | None,
    wall_time: int | None,
    memory: int | None,
) -> dict[str, Any]:
    return {
        "stdout": stdout,
        "stderr": stderr,
        "output": output,
        "code": code,
        "signal": signal,
        "message": message,
        "status": status,
        "cpu_time": cpu_time,
        "wall_time": wall_time,
        "memory": memory,
    }


def _verdict(result: RunResult, limits: Limits) -> tuple[str | None, str | None, bool]:
    """(status, message, killed by the service) of a run, as Isolate and Piston say it."""
    outcome = result.outcome
    if outcome is Outcome.TIME_LIMIT_EXCEEDED:
        wall = result.usage.cpu_time_ms < limits.cpu_time_ms
        return "TO", "Time limit exceeded" + (" (wall clock)" if wall else ""), True
    if outcome is Outcome.OUTPUT_LIMIT_EXCEEDED:
        if len(result.stderr.encode()) >= limits.output_kb * 1024:
            return "EL", "stderr length exceeded", True
        return "OL", "stdout length exceeded", True
    if result.signal is not None:
        return "SG", f"Caught fatal signal {result.signal}", False
    if result.exit_code:
        return "RE", f"Exited with error status {result.exit_code}", False
    if outcome is Outcome.MEMORY_LIMIT_EXCEEDED:
        return "SG", "Memory limit exceeded", True
    return None, None, False


def run_stage(result: RunResult, limits: Limits) -> dict[str, Any]:
    """A native run result as Piston's run stage."""
    status, message, killed = _verdict(result, limits)
    return _stage(
        result.stdout,
        result.stderr,
        result.output if result.output is not None else result.stdout + result.stderr,
        None if killed or result.signal is not None else result.exit_code,
        "SIGKILL" if killed else signal_name(result.signal),
        message,
        status,
        result.usage.cpu_time_ms,
        result.usage.wall_time_ms,
        result.usage.memory_kb * 1024,
    )


def compile_stage(result: RunResult | None) -> dict[str, Any]:
    """The compile stage: the compiler's failure, or a compile that succeeded (the native
    result keeps its wall time alone: 0 for a program from the compile cache)."""
    if result is None or result.outcome is not Outcome.COMPILE_ERROR:
        wall = result.compile_time_ms if result is not None else None
        return _stage("", "", "", 0, None, None, None, None, wall, None)
    text = result.compile_output or ""
    code = result.exit_code if result.exit_code is not None else (None if result.signal else 1)
    status = "SG" if result.signal is not None else "RE"
    if text.startswith(COMPILE_TIME_STOPPED):  # Isolate's time-out, as for a run
        code, status = None, "TO"
    return _stage(
        "",
        text,
        text,
        code,
        "SIGKILL" if status == "TO" else signal_name(result.signal),
        text.splitlines()[0] if text.startswith("compilation stopped") else None,
        status,
        result.usage.cpu_time_ms,
        result.usage.wall_time_ms,
        result.usage.memory_kb * 1024,
    )


def failure_stage(job: Job) -> dict[str, Any]:
    """A job the service could not run (FAILED) or that was cancelled: status XX."""
    message = job.error or (
        "cancelled before it finished" if job.status is JobStatus.CANCELLED else "failed"
    )
    return _stage("", "", "", None, None, message, "XX", None, None, None)


def render(job: Job, request: PistonRequest) -> dict[str, Any]:
    """A finished job as Piston's execute answer."""
    answer: dict[str, Any] = {"language": request.language.language, "version": request.version}
    result = job.result
    if not isinstance(result, RunResult):
        answer["run"] = failure_stage(job)
        return answer
    if request.language.compiled:
        answer["compile"] = compile_stage(result)
        if result.outcome is Outcome.COMPILE_ERROR:
            answer["run"] = answer["compile"]
            return answer
    answer["run"] = run_stage(result, job.limits)
    return answer
