"""Judge0's HTTP shapes: a submission as clients send it, and as Judge0 1.13.1 renders it.

Requests are parsed by hand rather than by a pydantic model because Judge0 (Rails) coerces
loosely ("50" is a language id, "true" a boolean, null the default) and answers every
problem as `{"field": ["message", ...]}` with Rails' wording; both are kept here.
What OnPyRunner honours, maps or refuses, field by field, is in docs/judge0.md.
"""

from __future__ import annotations

import dataclasses
import math
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from onpyrunner.api.compat.judge0.encoding import Base64Error, decode64, encode64
from onpyrunner.api.compat.judge0.files import ArchiveError, unzip
from onpyrunner.api.compat.judge0.languages import BY_ID, PRIMARY_ID, Judge0Language
from onpyrunner.api.compat.judge0.status import Rendered, render
from onpyrunner.models import TERMINAL_STATUSES, Job, text_problem

#: Every attribute of a Judge0 1.13.1 submission, in its serializer's order: the table's
#: columns (language_id and status_id included) then status and language. `fields=*`
#: answers exactly these; the official SDK refuses any other name.
FIELDS: tuple[str, ...] = (
    "source_code",
    "language_id",
    "stdin",
    "expected_output",
    "stdout",
    "status_id",
    "created_at",
    "finished_at",
    "time",
    "memory",
    "stderr",
    "token",
    "number_of_runs",
    "cpu_time_limit",
    "cpu_extra_time",
    "wall_time_limit",
    "memory_limit",
    "stack_limit",
    "max_processes_and_or_threads",
    "enable_per_process_and_thread_time_limit",
    "enable_per_process_and_thread_memory_limit",
    "max_file_size",
    "compile_output",
    "exit_code",
    "exit_signal",
    "message",
    "wall_time",
    "compiler_options",
    "command_line_arguments",
    "redirect_stderr_to_stdout",
    "callback_url",
    "additional_files",
    "enable_network",
    "status",
    "language",
)

#: What a GET answers without `fields`.
DEFAULT_FIELDS: tuple[str, ...] = tuple(
    f
    for f in FIELDS
    if f in {"token", "time", "memory", "stdout", "stderr", "compile_output", "message", "status"}
)

#: Attributes answered base64-encoded when base64_encoded=true.
ENCODED_OUT = frozenset(
    {"source_code", "stdin", "expected_output", "stdout", "stderr", "compile_output", "message"}
)

#: Judge0's allowance for cpu_extra_time; OnPyRunner stops a run at its limit (no grace).
MAX_CPU_EXTRA_TIME_S = 5.0

#: Characters of compiler_options and of command_line_arguments (Judge0's maximum).
MAX_WORDS_CHARS = 512

#: Submissions per batch request (Judge0's MAX_SUBMISSION_BATCH_SIZE).
MAX_BATCH = 20

Problems = dict[str, list[str]]


class FieldsError(ValueError):
    """`fields` names attributes a submission does not have."""

    def __init__(self, invalid: list[str]) -> None:
        self.invalid = invalid
        super().__init__(f"invalid fields: [{', '.join(invalid)}]")


def requested_fields(raw: str | None) -> tuple[str, ...]:
    """The attributes to answer, in Judge0's order.

    Raises:
        FieldsError: a name is not an attribute.
    """
    names = [n.strip() for n in (raw or "").split(",") if n.strip()]
    if not names:
        return DEFAULT_FIELDS
    if "*" in names:
        return FIELDS
    invalid = [n for n in names if n not in FIELDS]
    if invalid:
        raise FieldsError(invalid)
    return tuple(f for f in FIELDS if f in names)


def flag(raw: str | None) -> bool:
    """A query flag as Judge0 reads it: only "true" is true."""
    return raw == "true"


# --- requests ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SubmissionIn:
    """A valid submission, in OnPyRunner's units."""

    source_code: str
    language: Judge0Language
    stdin: str
    expected_output: str | None
    limits: dict[str, int]  # LimitsIn fields
    callback_url: str | None
    compiler_options: list[str] = dataclasses.field(default_factory=list)
    args: list[str] = dataclasses.field(default_factory=list)
    files: dict[str, bytes] = dataclasses.field(default_factory=dict)
    #: The three as given, for Judge0's answer (its echo).
    echo: dict[str, str] = dataclasses.field(default_factory=dict)


def _number(value: object) -> float:
    if isinstance(value, bool):
        raise ValueError("is not a number")
    if isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:  # an integer beyond the float range, such as 10**400
            raise ValueError("is out of range") from None
        if math.isinf(number):  # JSON's 1e400 parses as infinity
            raise ValueError("is out of range")
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise ValueError("is not a number") from None
    else:
        raise ValueError("is not a number")
    if not math.isfinite(number):
        raise ValueError("is not a number")
    return number


def _boolean(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if value in (1, "1", "true", "True", "TRUE"):
        return True
    if value in (0, "0", "false", "False", "FALSE", ""):
        return False
    raise ValueError("must be true or false")


def _bounded(value: object, maximum: float) -> float:
    number = _number(value)
    if number <= 0:
        raise ValueError("must be greater than 0")
    if number > maximum:
        raise ValueError(f"must be less than or equal to {plain(maximum)}")
    return number


def plain(number: float) -> str:
    return str(int(number)) if number == int(number) else str(number)


class _Reader:
    """Reads one submission's fields, collecting problems per field."""

    def __init__(self, data: dict[str, Any], base64: bool) -> None:
        self.data = data
        self.base64 = base64
        self.problems: Problems = {}

    def fail(self, field: str, message: str) -> None:
        self.problems.setdefault(field, []).append(message)

    def given(self, field: str) -> bool:
        return self.data.get(field) is not None

    def text(self, field: str, *, encoded: bool) -> str | None:
        value = self.data.get(field)
        if value is None:
            return None
        if not isinstance(value, str):
            self.fail(field, "must be a string")
            return None
        problem = text_problem(value)
        if problem is not None:
            self.fail(field, problem)
            return None
        if encoded and self.base64:
            try:
                return decode64(value)
            except Base64Error as e:
                self.fail(field, str(e))
                return None
        return value

    def number(self, field: str, maximum: float) -> float | None:
        if not self.given(field):
            return None
        try:
            return _bounded(self.data[field], maximum)
        except ValueError as e:
            self.fail(field, str(e))
            return None

    def off(self, field: str, why: str) -> None:
        """A boolean option OnPyRunner cannot turn on."""
        if not self.given(field):
            return
        try:
            if _boolean(self.data[field]):
                self.fail(field, f"this option cannot be enabled ({why})")
        except ValueError as e:
            self.fail(field, str(e))

    def words(self, field: str) -> list[str]:
        """A string of shell words (Judge0 hands it to a shell): the words, unquoted."""
        text = self.text(field, encoded=False)
        if not text:
            return []
        if len(text) > MAX_WORDS_CHARS:
            self.fail(field, f"is too long (maximum is {MAX_WORDS_CHARS} characters)")
            return []
        try:
            return shlex.split(text)
        except ValueError as e:
            self.fail(field, f"cannot be split into words: {e}")
            return []


def _language(reader: _Reader, runtimes: frozenset[str]) -> Judge0Language | None:
    if not reader.given("language_id"):
        reader.fail("language_id", "can't be blank")
        return None
    raw = reader.data["language_id"]
    try:
        number = _number(raw)
    except ValueError as e:
        reader.fail("language_id", str(e))
        return None
    lang = BY_ID.get(int(number)) if number == int(number) else None
    if lang is None or lang.runtime not in runtimes:
        reader.fail("language_id", f"language with id {raw} doesn't exist")
        return None
    return lang


@dataclass(frozen=True)
class LimitField:
    """A Judge0 limit field: the native limit it sets, and its unit's conversions."""

    name: str
    native: str
    to_native: Callable[[float], int]
    of_native: Callable[[int], float]


#: Judge0's limit fields, in its units: seconds, KB, a count, KB. Converted here, at the
#: edge; the native path resolves them against the server's limits.
def _ms_of_s(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def _s_of_ms(ms: int) -> float:
    return ms / 1000


def _mib_of_kb(kb: float) -> int:
    return max(1, math.ceil(int(kb) / 1024))


def _kb_of_mib(mib: int) -> float:
    return mib * 1024


LIMIT_FIELDS: tuple[LimitField, ...] = (
    LimitField("cpu_time_limit", "cpu_time_ms", _ms_of_s, _s_of_ms),
    LimitField("wall_time_limit", "wall_time_ms", _ms_of_s, _s_of_ms),
    LimitField("memory_limit", "memory_mb", _mib_of_kb, _kb_of_mib),
    LimitField("max_processes_and_or_threads", "max_processes", math.ceil, float),
    LimitField("max_file_size", "max_file_kb", int, float),
)
BY_NATIVE = {f.native: f for f in LIMIT_FIELDS}


def _limits(reader: _Reader, stack_kb: int) -> dict[str, int]:
    """The native limits a submission asks for (the server's bounds are checked on the
    native path, see routes._problems_of for how its messages come back)."""
    limits: dict[str, int] = {}
    for field in LIMIT_FIELDS:
        value = reader.number(field.name, math.inf)
        if value is not None:
            limits[field.native] = field.to_native(value)
    reader.number("stack_limit", stack_kb)  # checked; the sandbox's stack is fixed
    if reader.given("cpu_extra_time"):  # Judge0 allows 0 here
        try:
            extra = _number(reader.data["cpu_extra_time"])
            if not 0 <= extra <= MAX_CPU_EXTRA_TIME_S:
                reader.fail(
                    "cpu_extra_time", f"must be between 0 and {plain(MAX_CPU_EXTRA_TIME_S)}"
                )
        except ValueError as e:
            reader.fail("cpu_extra_time", str(e))
    if reader.given("number_of_runs"):
        try:
            runs = _number(reader.data["number_of_runs"])
            if runs <= 0:
                reader.fail("number_of_runs", "must be greater than 0")
            elif runs > 1:
                reader.fail(
                    "number_of_runs",
                    "must be less than or equal to 1 (OnPyRunner runs a submission once)",
                )
        except ValueError as e:
            reader.fail("number_of_runs", str(e))
    return limits


def parse_submission(
    data: object,
    *,
    base64: bool,
    runtimes: frozenset[str],
    stack_kb: int,
    max_files: int = 0,
    max_files_bytes: int = 0,
) -> tuple[SubmissionIn | None, Problems]:
    """A submission from its JSON, or the problems with it, each under its field's name.

    Args:
        data: the JSON object the client sent.
        base64: source_code, stdin and expected_output are base64 (?base64_encoded=true).
        runtimes: the runtimes a submission may use now (Services.accepted_languages).
        stack_kb: the sandbox's fixed stack size: the most stack_limit may ask for.
        max_files, max_files_bytes: what additional_files may unpack to (settings
            max_files and max_files_kb).
    """
    if not isinstance(data, dict):
        return None, {"base": ["the body must be a JSON object"]}
    reader = _Reader(data, base64)
    source = reader.text("source_code", encoded=True)
    if source is None or source == "":
        if "source_code" not in reader.problems:
            reader.fail("source_code", "can't be blank")
    language = _language(reader, runtimes)
    stdin = reader.text("stdin", encoded=True)
    expected = reader.text("expected_output", encoded=True)
    limits = _limits(reader, stack_kb)
    reader.off("enable_per_process_and_thread_time_limit", "limits apply to the whole process tree")
    reader.off(
        "enable_per_process_and_thread_memory_limit", "limits apply to the whole process tree"
    )
    reader.off("enable_network", "the sandbox has no network")
    reader.off("redirect_stderr_to_stdout", "stdout and stderr are captured separately")
    options = reader.words("compiler_options")
    if options and language is not None and not language.compiled:
        reader.fail(
            "compiler_options", "setting compiler options is only allowed for compiled languages"
        )
    args = reader.words("command_line_arguments")
    files = _files(reader, max_files, max_files_bytes)
    callback = reader.text("callback_url", encoded=False) or None
    if reader.problems or source is None or language is None:
        return None, reader.problems
    echo = {
        name: reader.data[name]
        for name in ("compiler_options", "command_line_arguments", "additional_files")
        if isinstance(reader.data.get(name), str) and reader.data[name]
    }
    return SubmissionIn(
        source, language, stdin or "", expected, limits, callback, options, args, files, echo
    ), {}


def _files(reader: _Reader, max_files: int, max_bytes: int) -> dict[str, bytes]:
    """additional_files unpacked (always base64, whatever base64_encoded says)."""
    encoded = reader.text("additional_files", encoded=False)
    if not encoded:
        return {}
    try:
        return unzip(encoded, max_files, max_bytes)
    except ArchiveError as e:
        reader.fail("additional_files", str(e))
        return {}


# --- responses --------------------------------------------------------------------------


def seconds(ms: int | None) -> str | None:
    """Milliseconds as Judge0 prints a decimal column: "0.014", "2.0"."""
    if ms is None:
        return None
    text = f"{ms / 1000:.3f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def timestamp(at: datetime | None) -> str | None:
    """YYYY-MM-DDTHH:MM:SS.sssZ, as Rails renders times."""
    if at is None:
        return None
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _finished_at(job: Job) -> datetime | None:
    if job.status not in TERMINAL_STATUSES:
        return None
    return job.timestamps.finished_at or job.timestamps.stored_at


def _all_values(job: Job, shown: Rendered, names: dict[str, str], stack_kb: int) -> dict[str, Any]:
    run = shown.run
    limits = job.limits
    echo = job.origin.data
    asked = echo.get("language_id")
    language_id = int(asked) if asked and asked.isdigit() else PRIMARY_ID.get(job.language)
    language = (
        {"id": language_id, "name": names.get(job.language, job.language)}
        if language_id is not None
        else None
    )
    status = {"id": int(shown.status), "description": shown.status.description}
    return {
        "source_code": echo.get("source_code"),
        "language_id": language_id,
        "stdin": echo.get("stdin"),
        "expected_output": echo.get("expected_output"),
        "stdout": (run.stdout or None) if run else None,
        "status_id": int(shown.status),
        "created_at": timestamp(job.timestamps.received_at),
        "finished_at": timestamp(_finished_at(job)),
        "time": seconds(run.cpu_time_ms) if run else None,
        "memory": run.memory_kb if run else None,
        "stderr": (run.stderr or None) if run else None,
        "token": job.id,
        "number_of_runs": 1,
        "cpu_time_limit": seconds(limits.cpu_time_ms),
        "cpu_extra_time": "0.0",
        "wall_time_limit": seconds(limits.wall_time_ms),
        "memory_limit": limits.memory_mb * 1024,
        "stack_limit": stack_kb,
        "max_processes_and_or_threads": limits.max_processes,
        "enable_per_process_and_thread_time_limit": False,
        "enable_per_process_and_thread_memory_limit": False,
        "max_file_size": limits.max_file_kb,
        "compile_output": (run.compile_output or None) if run else None,
        "exit_code": run.exit_code if run else None,
        "exit_signal": run.signal if run else None,
        "message": shown.message,
        "wall_time": seconds(run.wall_time_ms) if run else None,
        "compiler_options": echo.get("compiler_options"),
        "command_line_arguments": echo.get("command_line_arguments"),
        "redirect_stderr_to_stdout": False,
        "callback_url": echo.get("callback_url"),
        "additional_files": echo.get("additional_files"),
        "enable_network": False,
        "status": status,
        "language": language,
    }


def render_submission(
    job: Job,
    fields: tuple[str, ...],
    *,
    base64: bool,
    names: dict[str, str],
    stack_kb: int,
) -> dict[str, Any]:
    """A job as Judge0 answers a submission, with only the requested fields.

    Args:
        names: Judge0 display name per runtime id ("python" -> "Python (3.11.2)").
        stack_kb: the sandbox's fixed stack size, reported as stack_limit.
    """
    values = _all_values(job, render(job), names, stack_kb)
    out = {name: values[name] for name in fields}
    if base64:
        for name in ENCODED_OUT.intersection(out):
            if out[name] is not None:
                out[name] = encode64(out[name])
    return out
