"""The SandboxFusion translations, as pure functions: its request to the native body, the
native job back to its answer (every stage and status rule), and its languages as data."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from onpyrunner.api.compat.sandboxfusion.languages import BY_NAME, LANGUAGES, offered
from onpyrunner.api.compat.sandboxfusion.translate import (
    COMPILE_MEMORY_STOPPED,
    COMPILE_TIME_STOPPED,
    RunCodeRequest,
    field_of,
    job_body,
    limit_message,
    render,
)
from onpyrunner.limits import Limits
from onpyrunner.models import Job, JobStatus, Outcome, RunResult, Timestamps, Usage
from onpyrunner.sandbox.pool import _COMPILE_STOPPED
from onpyrunner.settings import Settings

TABLE = Settings().limit_table()
PYTHON = BY_NAME["python"]
CPP = BY_NAME["cpp"]


def body(**fields: Any) -> dict[str, Any]:
    request = RunCodeRequest.model_validate({"code": "print(1)", "language": "python", **fields})
    return job_body(request, BY_NAME[request.language], TABLE)


def test_the_request_is_the_native_body_in_native_units() -> None:
    got = body(run_timeout=2.5, memory_limit_MB=256, stdin="1\n", unknown_field="ignored")
    assert got == {
        "language": "python",
        "source_code": "print(1)",
        "stdin": "1\n",
        "limits": {"wall_time_ms": 2500, "cpu_time_ms": 2500, "memory_mb": 256},
    }
    # SandboxFusion has no CPU limit: the CPU time is the wall time within the server's max
    assert body(run_timeout=20)["limits"] == {"wall_time_ms": 20000, "cpu_time_ms": 15000}
    assert "memory_mb" not in body(memory_limit_MB=-1)["limits"]  # the server's default
    assert body(stdin=None)["stdin"] == ""
    assert body(language="nodejs")["language"] == "javascript"


def test_compile_timeout_is_the_compiles_wall_and_cpu_time() -> None:
    got = body(language="cpp", compile_timeout=0.05, run_timeout=2)
    assert got["compile_limits"] == {"wall_time_ms": 50, "cpu_time_ms": 50}
    assert got["limits"] == {"wall_time_ms": 2000, "cpu_time_ms": 2000}
    # SandboxFusion's default, 10 s; the CPU time within the server's compile CPU time
    assert body(language="cpp")["compile_limits"] == {"wall_time_ms": 10000, "cpu_time_ms": 10000}
    assert body(language="cpp", compile_timeout=15)["compile_limits"] == {
        "wall_time_ms": 15000,
        "cpu_time_ms": TABLE.compile.cpu_time_ms,
    }
    # any value goes to the native path, which holds it to the server's compile limits
    assert body(language="cpp", compile_timeout=100)["compile_limits"]["wall_time_ms"] == 100000
    # a language that does not compile has no use for it: not sent, so never refused
    assert "compile_limits" not in body(compile_timeout=100)


def test_files_are_base64_and_null_ones_are_skipped() -> None:
    got = body(files={"a/b.txt": "aGk=", "skip": None}, fetch_files=["out.txt"], args=["-v"])
    assert got["files"] == {"a/b.txt": {"content": "aGk=", "encoding": "base64"}}
    assert got["fetch_files"] == ["out.txt"] and got["args"] == ["-v"]


def test_pytest_runs_the_code_through_its_driver_when_its_runtime_exists() -> None:
    pytest_lang = BY_NAME["pytest"]
    request = RunCodeRequest(code="def test_x():\n    assert 1\n", language="pytest")
    got = job_body(request, pytest_lang, TABLE)
    assert got["language"] == "python-sci"
    assert "pytest.main" in got["source_code"]
    assert got["files"] == {"test_solution.py": {"content": request.code, "encoding": "utf8"}}
    plain = frozenset({"python", "cpp", "javascript", "go", "java", "bash", "rust", "c"})
    assert "pytest" not in [lang.name for lang in offered(plain)]
    assert "pytest" in [lang.name for lang in offered(plain | {"python-sci"})]
    assert [lang.name for lang in offered(plain)] == [
        lang.name for lang in LANGUAGES if lang.name != "pytest"
    ]


def test_native_problems_land_on_sandboxfusion_fields() -> None:
    assert field_of(["source_code"], PYTHON) == ["code"]
    assert field_of(["limits", "memory_mb"], PYTHON) == ["memory_limit_MB"]
    assert field_of(["limits", "wall_time_ms"], PYTHON) == ["run_timeout"]
    assert field_of(["compile_limits", "wall_time_ms"], CPP) == ["compile_timeout"]
    assert field_of(["compile_limits", "cpu_time_ms"], CPP) == ["compile_timeout"]
    assert field_of(["files", "a.txt", "content"], PYTHON) == ["files", "a.txt"]
    assert field_of(["fetch_files", 2], PYTHON) == ["fetch_files", 2]
    assert field_of(["files", "test_solution.py", "content"], BY_NAME["pytest"]) == ["code"]


def test_limit_refusals_are_restated_in_seconds_and_mb() -> None:
    assert limit_message("run_timeout", 30000, "le") == (
        "must be at most 30 seconds (the server's limit)"
    )
    assert limit_message("compile_timeout", 20000, "le") == (
        "must be at most 20 seconds (the server's limit)"
    )
    assert (
        limit_message("memory_limit_MB", 1024, "le")
        == "must be at most 1024 MB (the server's limit)"
    )


def job_of(res: RunResult | None, status: JobStatus = JobStatus.COMPLETED) -> Job:
    return Job(
        id="j",
        status=status,
        language="python",
        limits=Limits(),
        timestamps=Timestamps(received_at=datetime.now(UTC)),
        result=res,
        error="the sandbox failed" if status is JobStatus.FAILED else None,
    )


def result(outcome: Outcome, **fields: Any) -> RunResult:
    base: dict[str, Any] = {
        "stdout": "out",
        "stderr": "",
        "exit_code": 0,
        "signal": None,
        "usage": Usage(cpu_time_ms=12, wall_time_ms=1250, memory_kb=2000),
    }
    return RunResult(outcome=outcome, **{**base, **fields})


def test_a_success_is_rendered_whole() -> None:
    answer = render(job_of(result(Outcome.SUCCESS, files={"o.txt": "aGk="})), PYTHON)
    assert answer == {
        "status": "Success",
        "message": "",
        "compile_result": None,
        "run_result": {
            "status": "Finished",
            "execution_time": 1.25,
            "return_code": 0,
            "stdout": "out",
            "stderr": "",
        },
        "executor_pod_name": None,
        "files": {"o.txt": "aGk="},
    }


@pytest.mark.parametrize(
    ("res", "status", "code", "said"),
    [
        (result(Outcome.RUNTIME_ERROR, exit_code=3), "Finished", 3, None),
        (result(Outcome.RUNTIME_ERROR, exit_code=None, signal=11), "Finished", 139, None),
        (
            result(Outcome.TIME_LIMIT_EXCEEDED, exit_code=None, signal=9),
            "TimeLimitExceeded",
            None,
            None,
        ),
        (
            result(Outcome.MEMORY_LIMIT_EXCEEDED, exit_code=1, stderr="MemoryError"),
            "Finished",
            137,
            "MemoryError\nonpyrunner: memory limit exceeded (128 MB): killed\n",
        ),
        (
            result(Outcome.OUTPUT_LIMIT_EXCEEDED, exit_code=None, signal=9),
            "Finished",
            137,
            "onpyrunner: output limit exceeded (64 KB of stdout or stderr, or a file over "
            "1024 KB): stopped\n",
        ),
    ],
)
def test_every_failure_of_the_program_is_failed_never_a_sandbox_error(
    res: RunResult, status: str, code: int | None, said: str | None
) -> None:
    answer = render(job_of(res), PYTHON)
    assert answer["status"] == "Failed"
    run = answer["run_result"]
    assert run["status"] == status and run["return_code"] == code
    if said is not None:
        assert run["stderr"] == said


def test_a_compiled_language_has_its_compile_stage_with_its_time() -> None:
    answer = render(job_of(result(Outcome.SUCCESS, compile_time_ms=1234)), CPP)
    assert answer["status"] == "Success"
    assert answer["compile_result"] == {
        "status": "Finished",
        "execution_time": 1.234,
        "return_code": 0,
        "stdout": "",
        "stderr": "",
    }
    assert answer["run_result"]["execution_time"] == 1.25  # the run's own
    cached = render(job_of(result(Outcome.SUCCESS, compile_time_ms=0)), CPP)
    assert cached["compile_result"]["execution_time"] == 0.0
    # a job stored before results carried the compile's time
    older = render(job_of(result(Outcome.SUCCESS)), CPP)
    assert older["compile_result"]["execution_time"] is None
    failed = result(
        Outcome.COMPILE_ERROR,
        exit_code=1,
        stdout="",
        compile_output="error: x",
        compile_time_ms=800,
    )
    answer = render(job_of(failed), CPP)
    assert answer["status"] == "Failed" and answer["run_result"] is None
    assert answer["compile_result"]["return_code"] == 1
    assert answer["compile_result"]["stderr"] == "error: x"
    assert answer["compile_result"]["execution_time"] == 0.8


def test_a_stopped_compile_is_a_timeout_or_137() -> None:
    slow = result(
        Outcome.COMPILE_ERROR,
        exit_code=None,
        signal=9,
        compile_output=f"{COMPILE_TIME_STOPPED} (1 ms)",
    )
    stage = render(job_of(slow), CPP)["compile_result"]
    assert stage["status"] == "TimeLimitExceeded" and stage["return_code"] is None
    big = result(
        Outcome.COMPILE_ERROR,
        exit_code=None,
        signal=9,
        compile_output=f"{COMPILE_MEMORY_STOPPED} (1 MiB)",
    )
    assert render(job_of(big), CPP)["compile_result"]["return_code"] == 137


def test_the_compile_messages_read_are_the_sandboxs_own() -> None:
    texts = [template.split(" (")[0] for template in _COMPILE_STOPPED.values()]
    assert COMPILE_TIME_STOPPED in texts and COMPILE_MEMORY_STOPPED in texts


@pytest.mark.parametrize("status", [JobStatus.FAILED, JobStatus.CANCELLED])
def test_only_a_job_the_service_did_not_finish_is_a_sandbox_error(status: JobStatus) -> None:
    answer = render(job_of(None, status), PYTHON)
    assert answer["status"] == "SandboxError" and answer["message"]
    assert answer["run_result"] is None and answer["compile_result"] is None
