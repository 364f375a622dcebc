"""OnPyRunner's harness for function_call and assert cases, in Python (CPython and PyPy).

It runs as the sandbox's main program, with the user's program file as its first argument
(the job's own arguments after it, handed on to the program as its sys.argv[1:]), and
reads the case from CASE_FILE (the host wrote it: the kind, the function and its arguments
or the test code, a per-run nonce and the name of the report file), deleting that file
before the user's code runs. It then runs the program in a fresh module and, in the same
interpreter, calls the function (function_call) or runs the test code (assert). What
happened goes to the report file, signed with the nonce (HMAC-SHA256; the nonce itself is
never written), and nowhere else: the host judges by that
report (judge/kinds.py), never by stdout or the exit status alone. A program that exits,
kills itself or is killed before the harness writes the report has no report, and fails.
The host never sends the expected value into the sandbox: it compares the returned value
itself.

The report: the HMAC's hex digest, a newline, then JSON {"status", ...}, the status one of:
  returned     the function returned; "value" is it, as JSON (function_call)
  completed    the test code ran to its end (assert)
  failed       the test code raised AssertionError; "error" says what (assert)
  raised       the program or the call raised; "error" (the harness then exits 1)
  unserializable  the returned value has no JSON form; "error" names its type
  too_large    the returned value's JSON is over the case's report cap; "bytes"
  no_function  no function of that name (nor a method of class Solution); "error"
  bad_tests    the test code does not compile (the problem's fault); "error"

It must run on every Python a runtime may have (PyPy is Python 3.9): no newer syntax.
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import json
import os
import sys
import traceback
import types
from typing import Any, NoReturn

CASE_FILE = "onpyrunner-case.json"
_REPORT_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC

# Bound before the program runs: what it does to these modules afterwards changes nothing
# here (what it can still do is in docs/judge.md).
_open, _write, _close, _exit, _unlink = os.open, os.write, os.close, os._exit, os.unlink
_dumps, _loads, _compile, _exec = json.dumps, json.loads, builtins.compile, builtins.exec
_print_exc = traceback.print_exc
_hmac, _sha256 = hmac.new, hashlib.sha256


class _Reporter:
    """Writes the one report of this run, with the nonce, to a file only the host and the
    harness know the name of, then ends the interpreter at once."""

    def __init__(self, nonce: str, path: str) -> None:
        self._nonce = nonce
        self._path = path

    def end(self, code: int, status: str, raw_value: str | None = None, **fields: Any) -> NoReturn:
        """Report, flush what the program printed, and exit: no atexit handler, thread or
        finaliser of the program runs after the report."""
        text = _dumps({"status": status, **fields})
        if raw_value is not None:  # the value's JSON as encoded, not decoded again
            text = text[:-1] + ', "value": ' + raw_value + "}"
        payload = text.encode()
        # Signed with the nonce, which the report does not hold: a process of the program
        # that reads the report (it may outlive this one for a moment) cannot forge another.
        mac = _hmac(self._nonce.encode(), payload, _sha256).hexdigest()
        fd = _open(self._path, _REPORT_FLAGS, 0o600)  # fails if the program made one
        try:
            view = memoryview(mac.encode() + b"\n" + payload)
            while view:
                view = view[_write(fd, view) :]
        finally:
            _close(fd)
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except BaseException:  # the report is written: the verdict does not need it
                pass
        _exit(code)


def _described(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    return text[:2000]


def _function(module: types.ModuleType, name: str) -> Any:
    """The function to call: a top-level callable, else a method of Solution()."""
    found = module.__dict__.get(name)
    if callable(found):
        return found
    solution = module.__dict__.get("Solution")
    if isinstance(solution, type) and callable(getattr(solution, name, None)):
        return getattr(solution(), name)
    return None


def _load(program_file: str, kind: str, reporter: _Reporter) -> types.ModuleType:
    """The program run in a fresh module: __main__ for assert (as a script with its tests
    appended), `solution` for function_call (its main block does not run)."""
    with open(program_file, "rb") as f:
        source = f.read()
    module = types.ModuleType("__main__" if kind == "assert" else "solution")
    module.__file__ = program_file
    sys.modules[module.__name__] = module
    sys.argv = [program_file, *sys.argv[2:]]  # the job's own arguments, if any
    try:
        _exec(_compile(source, program_file, "exec"), module.__dict__)
    except BaseException as e:  # SystemExit too: leaving early is no pass
        _print_exc()
        reporter.end(1, "raised", error=_described(e), stage="program")
    return module


def _run_tests(module: types.ModuleType, tests: types.CodeType, reporter: _Reporter) -> NoReturn:
    try:
        _exec(tests, module.__dict__)
    except AssertionError as e:
        _print_exc()
        reporter.end(0, "failed", error=_described(e))
    except BaseException as e:
        _print_exc()
        reporter.end(1, "raised", error=_described(e), stage="tests")
    reporter.end(0, "completed")


def _call(module: types.ModuleType, case: dict[str, Any], reporter: _Reporter) -> NoReturn:
    name = case["fn_name"]
    function = _function(module, name)
    if function is None:
        error = f"no function {name!r} (nor a method {name!r} of a class Solution)"
        reporter.end(0, "no_function", error=error)
    try:
        value = function(*case["args"])
    except BaseException as e:
        _print_exc()
        reporter.end(1, "raised", error=_described(e), stage="call")
    try:
        encoded = _dumps(value)
    except (TypeError, ValueError, RecursionError) as e:
        reporter.end(0, "unserializable", error=f"{type(value).__name__}: {_described(e)}")
    size = len(encoded.encode())
    if size > case["max_report_bytes"]:
        reporter.end(0, "too_large", bytes=size)
    reporter.end(0, "returned", raw_value=encoded)


def main() -> NoReturn:
    program_file = sys.argv[1]
    with open(CASE_FILE, "rb") as f:
        case = _loads(f.read())
    _unlink(CASE_FILE)  # gone before the program runs: it cannot read the tests or nonce
    reporter = _Reporter(case["nonce"], case["report"])
    tests = None
    if case["kind"] == "assert":
        try:
            tests = _compile(case["test_code"], "<tests>", "exec")
        except (SyntaxError, ValueError) as e:
            reporter.end(0, "bad_tests", error=_described(e))
    module = _load(program_file, case["kind"], reporter)
    if tests is not None:
        _run_tests(module, tests, reporter)
    _call(module, case, reporter)


if __name__ == "__main__":
    main()
