"""Function-call and assert cases through the real sandbox, and the ways a program under
training tries to pass them without passing them (docs/judge.md)."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from onpyrunner.judge.run import judge
from onpyrunner.limits import Limits
from onpyrunner.models import JobRequest, JudgeResult, Progress, TestCase, TestResult, Verdict
from onpyrunner.sandbox.pool import Sandbox
from tests.toolchains import need

pytestmark = pytest.mark.sandbox

ADD = "def add(a, b):\n    return a + b\n"
ADD_TESTS = "assert add(1, 2) == 3\nassert add(-1, 1) == 0\n"


def call(fn_name: str, args: list[Any], expected: Any, **more: Any) -> TestCase:
    fields = {"kind": "function_call", "fn_name": fn_name, "args": args, "expected": expected}
    return TestCase.model_validate({**fields, **more})


def asserts(test_code: str, **more: Any) -> TestCase:
    return TestCase.model_validate({"kind": "assert", "test_code": test_code, **more})


async def _nothing(_: Progress) -> None:
    return None


async def run(sandbox: Sandbox, source: str, cases: list[TestCase], **changes: Any) -> JudgeResult:
    base: dict[str, Any] = {
        "language": "python",
        "source_code": source,
        "limits": Limits(cpu_time_ms=2000, wall_time_ms=5000),
        "test_cases": cases,
    }
    return await judge(JobRequest.model_validate({**base, **changes}), sandbox, _nothing)


async def one(sandbox: Sandbox, source: str, case: TestCase, **changes: Any) -> TestResult:
    return (await run(sandbox, source, [case], **changes)).tests[0]


# --- what the kinds do -------------------------------------------------------------------


async def test_function_call_cases_compare_the_returned_value(sandbox: Sandbox) -> None:
    result = await run(
        sandbox,
        ADD,
        [
            call("add", [1, 2], 3),
            call("add", [[1], [2, 3]], [1, 2, 3]),
            call("add", ["a", "b"], "ab"),
            call("add", [2, 2], 5, name="wrong"),
        ],
    )
    assert [t.verdict for t in result.tests] == [Verdict.ACCEPTED] * 3 + [Verdict.WRONG_ANSWER]
    assert result.tests[3].diff == "expected 5, got 4"
    assert (result.passed, result.total) == (3, 4)


async def test_a_method_of_class_solution_is_called_as_leetcode_does(sandbox: Sandbox) -> None:
    source = "class Solution:\n    def twice(self, xs):\n        return [x * 2 for x in xs]\n"
    assert (await one(sandbox, source, call("twice", [[1, 2]], [2, 4]))).verdict is (
        Verdict.ACCEPTED
    )


async def test_returned_floats_use_the_jobs_float_tolerance(sandbox: Sandbox) -> None:
    source = "def third(x):\n    return {'v': [x / 3]}\n"
    case = call("third", [1], {"v": [0.3333]})
    exact = await one(sandbox, source, case)
    assert exact.verdict is Verdict.WRONG_ANSWER
    assert exact.diff == 'at ["v"][0]: expected 0.3333, got 0.3333333333333333'
    tolerant = await one(sandbox, source, case, checker={"type": "float", "abs_tol": 1e-3})
    assert tolerant.verdict is Verdict.ACCEPTED


async def test_a_boolean_is_not_a_number_and_a_tuple_is_a_list(sandbox: Sandbox) -> None:
    source = "def f(kind):\n    return 1 if kind == 'int' else (True, None)\n"
    result = await run(sandbox, source, [call("f", ["int"], True), call("f", ["t"], [True, None])])
    assert [t.verdict for t in result.tests] == [Verdict.WRONG_ANSWER, Verdict.ACCEPTED]


async def test_a_call_that_raises_is_a_runtime_error_with_its_message(sandbox: Sandbox) -> None:
    source = "def f(x):\n    raise ValueError('bad ' + str(x))\n"
    test = await one(sandbox, source, call("f", [7], 7))
    assert test.verdict is Verdict.RUNTIME_ERROR
    assert test.message == "ValueError: bad 7"
    assert "ValueError: bad 7" in (test.stderr or "")


async def test_a_missing_function_is_a_runtime_error_naming_it(sandbox: Sandbox) -> None:
    test = await one(sandbox, ADD, call("sub", [1, 2], -1))
    assert test.verdict is Verdict.RUNTIME_ERROR
    assert test.message is not None and "'sub'" in test.message


async def test_function_call_does_not_run_the_main_block(sandbox: Sandbox) -> None:
    source = ADD + "if __name__ == '__main__':\n    print(add(*map(int, input().split())))\n"
    test = await one(sandbox, source, call("add", [1, 2], 3))
    assert test.verdict is Verdict.ACCEPTED
    assert test.stdout == ""


async def test_assert_cases_pass_when_the_tests_run_to_their_end(sandbox: Sandbox) -> None:
    humaneval = "def check(candidate):\n    assert candidate(2, 3) == 5\n\ncheck(add)\n"
    result = await run(
        sandbox,
        ADD,
        [
            asserts(ADD_TESTS),
            asserts(humaneval),
            asserts("assert add(2, 2) == 5, 'two and two'", name="wrong"),
            asserts("add(1)", name="crash"),
        ],
    )
    assert [t.verdict for t in result.tests] == [
        Verdict.ACCEPTED,
        Verdict.ACCEPTED,
        Verdict.WRONG_ANSWER,
        Verdict.RUNTIME_ERROR,
    ]
    assert result.tests[2].message == "AssertionError: two and two"
    assert result.tests[3].message is not None and "TypeError" in result.tests[3].message


async def test_assert_runs_the_program_as_main_with_its_stdin(sandbox: Sandbox) -> None:
    source = "import sys\nN = int(input())\nIS_MAIN = __name__ == '__main__'\n"
    case = asserts("assert IS_MAIN and N == 41 + 1\n", stdin="42\n")
    assert (await one(sandbox, source, case)).verdict is Verdict.ACCEPTED


async def test_test_code_that_does_not_compile_is_the_problems_fault(sandbox: Sandbox) -> None:
    test = await one(sandbox, ADD, asserts("assert add(1, 2) ==\n"))
    assert test.verdict is Verdict.CHECKER_ERROR
    assert test.message is not None and "SyntaxError" in test.message


async def test_a_hidden_assert_case_never_shows_its_test_code(sandbox: Sandbox) -> None:
    tests = "SECRET_MARK = 1\nassert add(1, 1) == 3, 'SECRET_MARK'\n"
    test = await one(sandbox, ADD, asserts(tests, hidden=True))
    assert test.verdict is Verdict.WRONG_ANSWER
    assert "SECRET_MARK" not in test.model_dump_json()
    assert test.stderr is None and test.message is None


async def test_the_program_cannot_read_the_case_file(sandbox: Sandbox) -> None:
    # the harness deletes the case (test code, nonce, report name) before the program runs
    source = (
        "import os\n"
        "SEEN = sorted(n for n in os.listdir('.') if n.startswith('onpyrunner'))\n"
        "def seen():\n    return SEEN\n"
    )
    test = await one(sandbox, source, call("seen", [], ["onpyrunner-harness.py"]))
    assert test.verdict is Verdict.ACCEPTED, test.diff


async def test_stdio_and_harnessed_cases_mix_in_one_job(sandbox: Sandbox) -> None:
    source = ADD + "if __name__ == '__main__':\n    print(add(*map(int, input().split())))\n"
    stdio = TestCase(stdin="2 3\n", expected_stdout="5\n")
    # an assert case runs the program as __main__: its main block runs, on the case's stdin
    cases = [stdio, call("add", [2, 3], 5), asserts(ADD_TESTS, stdin="1 1\n")]
    result = await run(sandbox, source, cases)
    assert result.verdict is Verdict.ACCEPTED
    assert result.passed == 3


@pytest.mark.parametrize("language", ["pypy", "python-sci"])
async def test_the_other_pythons_run_the_same_harness(sandbox: Sandbox, language: str) -> None:
    need(sandbox, language)
    cases = [call("add", [1, 2], 3), asserts(ADD_TESTS)]
    result = await run(sandbox, ADD, cases, language=language)
    assert result.verdict is Verdict.ACCEPTED


async def test_limits_still_decide_first(sandbox: Sandbox) -> None:
    source = "def spin():\n    while True:\n        pass\n"
    limits = Limits(cpu_time_ms=300, wall_time_ms=2000)
    test = await one(sandbox, source, call("spin", [], None), limits=limits)
    assert test.verdict is Verdict.TIME_LIMIT_EXCEEDED


# --- gaming attempts: none of them passes ---------------------------------------------------

GAMES = {
    "exit(0) before the tests": "import sys\nsys.exit(0)\n" + ADD,
    "exit() builtin": "exit()\n" + ADD,
    "SystemExit in the tested function": "def add(a, b):\n    raise SystemExit(0)\n",
    "os._exit(0) in the tested function": "import os\ndef add(a, b):\n    os._exit(0)\n",
    "os._exit(0) at load": "import os\nos._exit(0)\n" + ADD,
    "kill the interpreter": (
        "import os, signal\ndef add(a, b):\n    os.kill(os.getpid(), signal.SIGKILL)\n"
    ),
    "kill the sandbox's init": (
        "import os, signal\ndef add(a, b):\n    os.kill(1, signal.SIGKILL)\n    return 0\n"
    ),
    "print what a pass looks like": (
        "print('3')\nprint('ACCEPTED')\nprint('{\"status\": \"completed\"}')\n"
        "import os\ndef add(a, b):\n    print(3)\n    os._exit(0)\n"
    ),
    "exit 0 from an atexit handler after a wrong answer": (
        "import atexit, os\natexit.register(lambda: os._exit(0))\n"
        "def add(a, b):\n    return 'nope'\n"
    ),
    "a thread that exits 0 while the tests run": (
        "import os, threading, time\n"
        "def add(a, b):\n"
        "    threading.Thread(target=lambda: os._exit(0)).start()\n"
        "    time.sleep(1)\n    return 'nope'\n"
    ),
    "a forged report in every name it could guess": (
        "import json, os\n"
        "for name in ['onpyrunner-report.json', 'report.json']:\n"
        "    open(name, 'w').write(json.dumps({'nonce': 'x', 'status': 'completed'}))\n"
        "def add(a, b):\n    os._exit(0)\n"
    ),
    "a child process that rewrites the report as it appears": (
        "import os, time\n"
        "def add(a, b):\n    return 'nope'\n"
        "if os.fork() == 0:\n"
        "    end = time.monotonic() + 2\n"
        "    while time.monotonic() < end:\n"
        "        for name in os.listdir('.'):\n"
        "            if name.startswith('onpyrunner-report-'):\n"
        "                try:\n"
        "                    data = open(name).read()\n"
        "                    for word in ('failed', 'returned'):\n"
        "                        data = data.replace(word, 'completed')\n"
        "                    data = data.replace('\"nope\"', '3')\n"
        "                    os.unlink(name)\n"
        "                    open(name, 'w').write(data)\n"
        "                except OSError:\n"
        "                    pass\n"
        "    os._exit(0)\n"
    ),
}


@pytest.mark.parametrize("game", sorted(GAMES))
@pytest.mark.parametrize("kind", ["function_call", "assert"])
async def test_gaming_attempt_never_passes(sandbox: Sandbox, game: str, kind: str) -> None:
    case = call("add", [1, 2], 3) if kind == "function_call" else asserts(ADD_TESTS)
    test = await one(sandbox, GAMES[game], case)
    assert test.verdict not in (Verdict.ACCEPTED, Verdict.PARTIAL), test


async def test_an_object_equal_to_everything_is_no_pass_for_a_function_call(
    sandbox: Sandbox,
) -> None:
    source = (
        "class Anything:\n    def __eq__(self, other):\n        return True\n"
        "def add(a, b):\n    return Anything()\n"
    )
    test = await one(sandbox, source, call("add", [1, 2], 3))
    assert test.verdict is Verdict.WRONG_ANSWER
    assert test.message is not None and test.message.startswith("Anything: ")


async def test_a_program_that_exits_cleanly_has_no_report(sandbox: Sandbox) -> None:
    test = await one(sandbox, "import os\nos._exit(0)\n", asserts(ADD_TESTS))
    assert test.verdict is Verdict.RUNTIME_ERROR
    assert test.exit_code == 0  # exit status alone would have said it passed
    assert test.message is not None and "reported nothing" in test.message


async def test_the_jobs_files_and_arguments_reach_the_program(sandbox: Sandbox) -> None:
    source = (
        "import sys\nDATA = open('data.txt').read()\nARGS = sys.argv[1:]\n"
        "def seen():\n    return [DATA, ARGS]\n"
    )
    files = {
        "data.txt": base64.b64encode(b"hello").decode(),
        # a job's file named as the harness's case file does not replace the case
        "onpyrunner-case.json": base64.b64encode(b'{"kind": "assert"}').decode(),
    }
    cases = [call("seen", [], ["hello", ["x", "y z"]]), asserts("assert DATA == 'hello'\n")]
    result = await run(sandbox, source, cases, files=files, args=["x", "y z"])
    assert [t.verdict for t in result.tests] == [Verdict.ACCEPTED, Verdict.ACCEPTED], result
