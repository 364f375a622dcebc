"""Function-call and assert cases: the language's harness runs them, and reports on a
channel of its own.

A harness (languages/harnesses/, named by the language's catalogue entry) is the sandbox's
main program: it loads the user's program, then calls the function (function_call) or runs
the test code (assert) in the same interpreter. The case goes in as a file the harness
deletes before the user's code runs; it holds a fresh nonce and the name of a fresh report
file. The harness writes its one report there, signed with the nonce (HMAC-SHA256; the
nonce is never written, so a process of the program that reads the report cannot forge
another), and ends the interpreter at once; the host reads the report back after the run.
The verdict rests on that report and on the run's outcome, never on stdout or the exit
status alone: a program that exits early (`exit(0)`, `SystemExit` in the tested function,
`os._exit`), kills its interpreter, or prints what a pass looks like has no report signed
with the nonce, and fails. The expected value of a function_call case never enters the
sandbox: the host compares the returned value (compare.values_equal, with the job's float
tolerance). What a hostile program can still do inside its own interpreter is in
docs/judge.md.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass, replace
from pathlib import PurePosixPath
from typing import Any

from onpyrunner.judge import compare
from onpyrunner.models import (
    Checker,
    JobRequest,
    Outcome,
    RunResult,
    TestCase,
    TestKind,
    Verdict,
)
from onpyrunner.sandbox.pool import Prepared, RunOptions, Sandbox

#: The file the case is written to for the harness (the harness reads and deletes it).
CASE_FILE = "onpyrunner-case.json"
#: The harness's own file name in the sandbox (with the harness file's extension).
HARNESS_STEM = "onpyrunner-harness"
#: Room in the report beyond the returned value (signature, status, an error message).
REPORT_OVERHEAD_BYTES = 8192
#: What a run without a report signed with its nonce is told.
NO_REPORT = (
    "the harness reported nothing: the program ended (an exit, os._exit or a signal) or "
    "changed the harness before the case completed"
)


def harnessed(program: Prepared) -> Prepared | None:
    """The program with its language's harness as the main file, or None when the
    language has no harness (or is compiled: harnesses are for interpreted languages)."""
    spec = program.runtime.spec.harness
    if spec is None or program.links or program.compile_error is not None:
        return None
    name = HARNESS_STEM + PurePosixPath(spec.file).suffix
    files = {**program.files, name: spec.source().encode()}  # the harness wins a namesake
    # The harness's arguments: the program's file, then the job's own arguments (which
    # the harness hands on to the program as its sys.argv[1:]).
    return replace(
        program, files=files, source_file=name, args=(program.source_file, *program.args)
    )


def _case_file(case: TestCase, nonce: str, report: str, max_report_bytes: int) -> bytes:
    spec = {
        "kind": case.kind.value,
        "nonce": nonce,
        "report": report,
        "max_report_bytes": max_report_bytes,
        "fn_name": case.fn_name,
        "args": case.args,
        "test_code": case.test_code,
    }
    return json.dumps(spec).encode()


def read_report(run: RunResult, name: str, nonce: str) -> dict[str, Any] | None:
    """The harness's report of a run: None when there is none, or its signature is not
    this run's nonce's, or it is not a JSON object."""
    encoded = (run.files or {}).get(name)
    if encoded is None:
        return None
    mac, _, payload = base64.b64decode(encoded).partition(b"\n")
    expected = hmac.new(nonce.encode(), payload, hashlib.sha256).hexdigest().encode()
    if not hmac.compare_digest(mac, expected):
        return None
    try:
        report = json.loads(payload)
    except (ValueError, RecursionError):
        return None
    return report if isinstance(report, dict) else None


def verdict_of(
    case: TestCase, run: RunResult, report: dict[str, Any] | None, checker: Checker
) -> tuple[Verdict, str | None, str | None]:
    """The verdict of a harnessed run, the hint of a wrong value, and a message (the
    harness's error, or why there is no verdict from it)."""
    error = report.get("error") if report is not None else None
    message = error if isinstance(error, str) else None
    if run.outcome is not Outcome.SUCCESS:  # a limit, or the harness exited non-zero
        return compare.verdict_of("", run, checker)[0], None, message
    if report is None:
        return Verdict.RUNTIME_ERROR, None, NO_REPORT
    status = report.get("status")
    if case.kind is TestKind.ASSERT and status == "completed":
        return Verdict.ACCEPTED, None, None
    if case.kind is TestKind.FUNCTION_CALL and status == "returned" and "value" in report:
        comparison = compare.values_equal(case.expected, report["value"], checker)
        if comparison.ok:
            return Verdict.ACCEPTED, None, None
        return Verdict.WRONG_ANSWER, comparison.hint, None
    if status in ("failed", "unserializable"):
        return Verdict.WRONG_ANSWER, None, message
    if status == "no_function":
        return Verdict.RUNTIME_ERROR, None, message
    if status == "too_large":
        return Verdict.OUTPUT_LIMIT_EXCEEDED, None, "the returned value is over the output limit"
    if status == "bad_tests":
        return Verdict.CHECKER_ERROR, None, f"the case's test code does not compile: {message}"
    return Verdict.RUNTIME_ERROR, None, "the harness's report does not match how the run ended"


@dataclass(frozen=True)
class Harnessed:
    """A harnessed case's run and what it was judged."""

    run: RunResult
    verdict: Verdict
    diff: str | None = None
    message: str | None = None


async def evaluate(
    case: TestCase, request: JobRequest, sandbox: Sandbox, program: Prepared
) -> Harnessed:
    """Run a function_call or assert case through the harness and judge its report.

    Raises:
        SandboxError: the sandbox failed.
        ValueError: the language has no harness on this worker (the API lets no such job
            through).
    """
    target = harnessed(program)
    if target is None:
        language = program.runtime.id
        raise ValueError(f"the language {language!r} has no harness for {case.kind} cases")
    nonce = secrets.token_hex(16)
    report_name = f"onpyrunner-report-{secrets.token_hex(8)}.json"
    max_value_bytes = request.limits.output_kb * 1024
    # The case among the program's own files, which win over a job's file of that name.
    case_file = _case_file(case, nonce, report_name, max_value_bytes)
    target = replace(target, files={**target.files, CASE_FILE: case_file})
    options = RunOptions(
        fetch=(report_name,), fetch_max_bytes=max_value_bytes + REPORT_OVERHEAD_BYTES
    )
    run = await sandbox.run_prepared(target, case.stdin.encode(), request.limits, options)
    report = read_report(run, report_name, nonce)
    run = run.model_copy(update={"files": None})
    verdict, diff, message = verdict_of(case, run, report, request.checker)
    return Harnessed(run, verdict, diff, message)
