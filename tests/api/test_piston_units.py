"""The Piston translations as pure functions: a request to the native one, a native job
to Piston's answer, the version selectors."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.exceptions import RequestValidationError

from onpyrunner.api.compat.piston.languages import BY_NAME, LANGUAGES, offered, satisfies, semver
from onpyrunner.api.compat.piston.routes import native_problem
from onpyrunner.api.compat.piston.translate import (
    COMPILE_TIME_STOPPED,
    PistonError,
    limit_message,
    parse,
    render,
)
from onpyrunner.limits import Limits, LimitTable
from onpyrunner.models import Job, JobStatus, Outcome, RunResult, Timestamps, Usage
from onpyrunner.queue.store import LanguageInfo
from onpyrunner.sandbox.pool import _COMPILE_STOPPED

OFFERED = {"python": "3.11.2", "cpp": "12.2.0", "bash": "5.2.15"}
TABLE = LimitTable.shipped()


def request(**fields: Any) -> dict[str, Any]:
    return {"language": "python", "version": "*", "files": [{"content": "print(1)"}], **fields}


def parsed(strict: bool = False, **fields: Any) -> Any:
    return parse(request(**fields), OFFERED, strict)


def refusal(strict: bool = False, body: Any = None, **fields: Any) -> str:
    with pytest.raises(PistonError) as caught:
        parse(request(**fields) if body is None else body, OFFERED, strict)
    assert caught.value.status == 400
    return caught.value.message


@pytest.mark.parametrize(
    ("name", "runtime"),
    [
        ("python", "python"),
        ("py", "python"),
        ("py3", "python"),
        ("python3", "python"),
        ("c++", "cpp"),
        ("cpp", "cpp"),
        ("g++", "cpp"),
        ("gcc", "c"),
        ("js", "javascript"),
        ("node-js", "javascript"),
        ("rs", "rust"),
        ("golang", "go"),
        ("sh", "bash"),
    ],
)
def test_a_language_is_named_by_piston_name_or_alias(name: str, runtime: str) -> None:
    assert BY_NAME[name].runtime == runtime


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("*", True),
        ("3.x", True),
        ("3", True),
        ("3.11", True),
        ("3.11.2", True),
        ("3.11.x", True),
        ("^3.10", True),
        ("~3.11.0", True),
        (">=3.8 <4", True),
        ("2.x || 3.x", True),
        ("3.10.0", False),
        ("2.x", False),
        (">=3.8 <3.11", False),
        ("banana", None),
    ],
)
def test_version_selectors_are_semver_ranges(selector: str, expected: bool | None) -> None:
    assert satisfies("3.11.2", selector) is expected


def test_versions_are_three_part_numbers_of_what_was_probed() -> None:
    assert semver("CPython 3.11.2") == "3.11.2"
    assert semver("OpenJDK 17") == "17.0.0"
    assert semver("go1.19.8 linux/amd64") == "1.19.8"


def test_a_version_not_installed_is_served_by_the_installed_one_unless_strict() -> None:
    assert parsed(version="3.10.0").version == "3.11.2"
    assert refusal(strict=True, version="3.10.0") == "python-3.10.0 runtime is unknown"
    assert parsed(strict=True, version="3.x").version == "3.11.2"


def test_python_sci_is_offered_under_a_name_of_its_own_when_a_worker_has_it() -> None:
    sci = BY_NAME["python-sci"]
    assert sci.runtime == "python-sci" and BY_NAME["py-sci"] is sci and not sci.compiled
    names = [
        name for lang in LANGUAGES if lang is not sci for name in (lang.language, *lang.aliases)
    ]
    assert not {sci.language, *sci.aliases} & set(names)
    python = LanguageInfo("python", "Python 3", "CPython 3.11.2")
    with_sci = LanguageInfo("python-sci", "Python 3 with scientific packages", "CPython 3.11.2")
    assert sci not in [lang for lang, _ in offered([python])]
    assert (sci, "3.11.2") in offered([python, with_sci])
    got = parse(request(language="py-sci"), {**OFFERED, "python-sci": "3.11.2"}, False)
    assert got.language is sci and got.job_body()["language"] == "python-sci"
    assert refusal(language="python-sci") == "python-sci-* runtime is unknown"


def test_refusals_are_in_piston_order_and_words() -> None:
    assert refusal(body=[]) == "language is required as a string"
    assert refusal(language=5) == "language is required as a string"
    assert refusal(version=None) == "version is required as a string"
    assert refusal(files={}) == "files is required as an array"
    assert refusal(files=[{"name": "a"}]) == "files[0].content is required as a string"
    assert refusal(language="cobol") == "cobol-* runtime is unknown"
    assert refusal(language="java") == "java-* runtime is unknown"  # no worker offers it
    assert (
        refusal(files=[{"content": "AA==", "encoding": "base64"}])
        == "files must include at least one utf8 encoded file"
    )
    assert refusal(run_timeout="3000") == "If specified, run_timeout must be a number"
    assert refusal(run_timeout=True) == "If specified, run_timeout must be a number"
    assert refusal(run_cpu_time=-5) == "run_cpu_time must be non-negative"
    assert refusal(compile_timeout=-5) == "compile_timeout must be non-negative"
    assert refusal(compile_cpu_time="1") == "If specified, compile_cpu_time must be a number"


def test_the_first_utf8_file_is_the_program_and_the_others_go_beside_it() -> None:
    files = [
        {
            "name": "data.bin",
            "content": base64.b64encode(b"\x00\x01").decode(),
            "encoding": "base64",
        },
        {"name": "main.py", "content": "print(open('data.txt').read())"},
        {"name": "data.txt", "content": "hi"},
        {"name": "x.hex", "content": "4142", "encoding": "hex"},
        {"content": "no name", "encoding": "no such encoding"},  # taken as utf8
    ]
    got = parsed(files=files)
    assert got.source_code == "print(open('data.txt').read())"
    assert {k: base64.b64decode(v) for k, v in got.files.items()} == {
        "data.bin": b"\x00\x01",
        "data.txt": b"hi",
        "x.hex": b"AB",
        "file4.code": b"no name",
    }


def test_stdin_gets_a_trailing_newline_and_args_follow() -> None:
    assert parsed().stdin == "\n"
    assert parsed(stdin="21").stdin == "21\n"
    assert parsed(stdin="21\n").stdin == "21\n"
    assert parse(request(stdin="21"), OFFERED, False, interactive=True).stdin == "21"
    assert parsed(args=["1", 2]).args == ["1", "2"]
    assert refusal(args="1 2") == "If specified, args must be an array of strings"


def test_limits_convert_to_native_units_at_the_edge() -> None:
    got = parsed(run_timeout=2500, run_cpu_time=1000, run_memory_limit=100_000_000)
    assert got.limits == {"wall_time_ms": 2500, "cpu_time_ms": 1000, "memory_mb": 96}
    defaults = parsed(run_memory_limit=-1, run_timeout=0, compile_memory_limit=-1)
    assert defaults.limits == {"wall_time_ms": None, "cpu_time_ms": None, "memory_mb": None}
    body = got.job_body()
    assert body["limits"] == {"wall_time_ms": 2500, "cpu_time_ms": 1000, "memory_mb": 96}
    assert body["interleave_output"] is True and body["language"] == "python"
    assert "compile_limits" not in body  # none asked for: the server's compile limits


def test_compile_limits_are_the_native_compile_limits_in_native_units() -> None:
    got = parsed(
        language="cpp", compile_timeout=50, compile_cpu_time=40, compile_memory_limit=100_000_000
    )
    assert got.compile_limits == {"wall_time_ms": 50, "cpu_time_ms": 40, "memory_mb": 96}
    assert got.job_body()["compile_limits"] == {
        "wall_time_ms": 50,
        "cpu_time_ms": 40,
        "memory_mb": 96,
    }
    assert got.limits == {"wall_time_ms": None, "cpu_time_ms": None, "memory_mb": None}
    partial = parsed(language="cpp", compile_timeout=2000, compile_memory_limit=-1).job_body()
    assert partial["compile_limits"] == {"wall_time_ms": 2000}
    # more than the server's compile values goes on: the native path refuses it
    huge = parsed(language="cpp", compile_timeout=10**9).job_body()
    assert huge["compile_limits"] == {"wall_time_ms": 10**9}


def test_a_native_limit_refusal_is_restated_in_piston_units() -> None:
    assert limit_message("memory_mb", 1024) == (
        "run_memory_limit cannot exceed the configured limit of 1073741824"
    )
    assert limit_message("wall_time_ms", 30000) == (
        "run_timeout cannot exceed the configured limit of 30000"
    )
    assert limit_message("wall_time_ms", TABLE.compile.wall_time_ms, "compile") == (
        f"compile_timeout cannot exceed the configured limit of {TABLE.compile.wall_time_ms}"
    )
    assert limit_message("memory_mb", TABLE.compile.memory_mb, "compile") == (
        "compile_memory_limit cannot exceed the configured limit of "
        f"{TABLE.compile.memory_mb * 1024 * 1024}"
    )


def test_of_several_refused_limits_the_one_piston_checks_first_is_named() -> None:
    over = [
        {"type": "less_than_equal", "loc": ("body", *loc), "msg": "no", "ctx": {"le": 7}}
        for loc in (
            ("limits", "wall_time_ms"),
            ("compile_limits", "cpu_time_ms"),
            ("compile_limits", "wall_time_ms"),
        )
    ]
    # Piston checks memory, then timeout, then CPU time; the compile's before the run's
    got = native_problem(RequestValidationError(over))
    assert got.message == "compile_timeout cannot exceed the configured limit of 7"
    got = native_problem(RequestValidationError(over[:2]))
    assert got.message == "run_timeout cannot exceed the configured limit of 7"


def job_of(result: RunResult | None, status: JobStatus = JobStatus.COMPLETED) -> Job:
    return Job(
        id="j",
        status=status,
        language="python",
        limits=Limits(),
        timestamps=Timestamps(received_at=datetime.now(UTC)),
        result=result,
        error="the sandbox failed" if status is JobStatus.FAILED else None,
    )


def result(outcome: Outcome, **fields: Any) -> RunResult:
    base: dict[str, Any] = {
        "stdout": "",
        "stderr": "",
        "exit_code": 0,
        "signal": None,
        "usage": Usage(cpu_time_ms=12, wall_time_ms=30, memory_kb=2000),
    }
    return RunResult(outcome=outcome, **{**base, **fields})


def run_of(res: RunResult | None, language: str = "python", **job: Any) -> dict[str, Any]:
    rendered = render(job_of(res, **job), parse(request(language=language), OFFERED, False))
    return rendered


def test_a_success_is_rendered_with_its_figures_in_piston_units() -> None:
    answer = run_of(result(Outcome.SUCCESS, stdout="1\n", stderr="e", output="1\ne"))
    assert answer == {
        "language": "python",
        "version": "3.11.2",
        "run": {
            "stdout": "1\n",
            "stderr": "e",
            "output": "1\ne",
            "code": 0,
            "signal": None,
            "message": None,
            "status": None,
            "cpu_time": 12,
            "wall_time": 30,
            "memory": 2000 * 1024,
        },
    }


@pytest.mark.parametrize(
    ("res", "status", "message", "code", "signal"),
    [
        (result(Outcome.RUNTIME_ERROR, exit_code=3), "RE", "Exited with error status 3", 3, None),
        (
            result(Outcome.RUNTIME_ERROR, exit_code=None, signal=11),
            "SG",
            "Caught fatal signal 11",
            None,
            "SIGSEGV",
        ),
        (
            result(Outcome.TIME_LIMIT_EXCEEDED, exit_code=None, signal=9),
            "TO",
            "Time limit exceeded (wall clock)",
            None,
            "SIGKILL",
        ),
        (
            result(
                Outcome.TIME_LIMIT_EXCEEDED,
                exit_code=None,
                signal=9,
                usage=Usage(cpu_time_ms=2000, wall_time_ms=2100, memory_kb=1),
            ),
            "TO",
            "Time limit exceeded",
            None,
            "SIGKILL",
        ),
        (
            result(Outcome.OUTPUT_LIMIT_EXCEEDED, stdout="x" * 65536, exit_code=None, signal=9),
            "OL",
            "stdout length exceeded",
            None,
            "SIGKILL",
        ),
        (
            result(Outcome.OUTPUT_LIMIT_EXCEEDED, stderr="x" * 65536, exit_code=None, signal=9),
            "EL",
            "stderr length exceeded",
            None,
            "SIGKILL",
        ),
        (
            result(Outcome.MEMORY_LIMIT_EXCEEDED, exit_code=None, signal=9),
            "SG",
            "Caught fatal signal 9",
            None,
            "SIGKILL",
        ),
    ],
)
def test_outcomes_are_isolate_statuses(
    res: RunResult, status: str, message: str, code: int | None, signal: str | None
) -> None:
    run = run_of(res)["run"]
    assert (run["status"], run["message"], run["code"], run["signal"]) == (
        status,
        message,
        code,
        signal,
    )


def test_a_compiled_language_has_a_compile_stage_and_a_failed_one_is_also_the_run() -> None:
    ok = run_of(result(Outcome.SUCCESS, stdout="hi\n", compile_time_ms=640), language="c++")
    assert ok["compile"]["code"] == 0 and ok["compile"]["status"] is None
    assert ok["compile"]["wall_time"] == 640  # the compile's, in ms; its CPU time not kept
    assert ok["compile"]["cpu_time"] is None and ok["compile"]["memory"] is None
    assert ok["run"]["stdout"] == "hi\n" and ok["run"]["wall_time"] == 30
    cached = run_of(result(Outcome.SUCCESS, compile_time_ms=0), language="c++")
    assert cached["compile"]["wall_time"] == 0
    failed = run_of(
        result(Outcome.COMPILE_ERROR, exit_code=1, compile_output="main.cpp:1: error"),
        language="cpp",
    )
    assert failed["compile"]["stderr"] == failed["compile"]["output"] == "main.cpp:1: error"
    assert failed["compile"]["code"] == 1 and failed["compile"]["status"] == "RE"
    assert failed["run"] == failed["compile"]
    assert failed["language"] == "c++"
    stopped = run_of(
        result(
            Outcome.COMPILE_ERROR,
            exit_code=None,
            signal=9,
            compile_output="compilation stopped: over its time limit (50 ms CPU, 50 ms wall)\n",
        ),
        language="cpp",
    )["compile"]
    assert (stopped["status"], stopped["code"], stopped["signal"]) == ("TO", None, "SIGKILL")
    assert stopped["message"] == "compilation stopped: over its time limit (50 ms CPU, 50 ms wall)"
    assert stopped["message"].startswith(COMPILE_TIME_STOPPED)
    assert COMPILE_TIME_STOPPED in [t.split(" (")[0] for t in _COMPILE_STOPPED.values()]


def test_a_job_the_service_could_not_run_is_status_xx() -> None:
    run = run_of(None, status=JobStatus.FAILED)["run"]
    assert (run["status"], run["message"], run["code"]) == ("XX", "the sandbox failed", None)
