"""Custom checkers through the real sandbox: testlib's protocol, in Python and in C++."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Mapping

import pytest

from onpyrunner.judge.run import judge
from onpyrunner.limits import Limits
from onpyrunner.models import JobRequest, Progress, TestCase, Verdict
from onpyrunner.sandbox.pool import Sandbox
from tests.toolchains import need

pytestmark = pytest.mark.sandbox

# Any permutation of the input's numbers is a right answer.
PERMUTATION_CHECKER = """
import sys
inp, out, ans = (open(p).read().split() for p in sys.argv[1:4])
if sorted(out) == sorted(inp[1:]):
    sys.stderr.write(f"ok a permutation of {len(out)} numbers\\n")
    sys.exit(0)
sys.stderr.write(f"wrong answer {' '.join(out)[:50]} is not a permutation of the input\\n")
sys.exit(1)
"""

# Right within a relative error of 1e-4 of the answer.
RELATIVE_CHECKER = """
import sys
expected = float(open(sys.argv[3]).read())
try:
    got = float(open(sys.argv[2]).read())
except ValueError:
    sys.stderr.write("wrong output format not a number\\n")
    sys.exit(2)
if abs(got - expected) <= 1e-4 * abs(expected):
    sys.exit(0)
sys.stderr.write(f"wrong answer expected {expected}, found {got}\\n")
sys.exit(1)
"""

# One point for each right line, as a share of the lines (testlib's quitp).
PARTIAL_CHECKER = """
import sys
out = open(sys.argv[2]).read().split()
ans = open(sys.argv[3]).read().split()
right = sum(a == b for a, b in zip(out, ans))
if right == len(ans):
    sys.exit(0)
sys.stderr.write(f"points {right / len(ans)} {right} of {len(ans)} right\\n")
sys.exit(7)
"""

CPP_CHECKER = """
#include <fstream>
#include <iostream>
#include <set>
int main(int argc, char** argv) {
    std::ifstream inp(argv[1]), out(argv[2]);
    long n, x;
    inp >> n;
    std::multiset<long> want, got;
    for (long i = 0; i < n && inp >> x; i++) want.insert(x);
    while (out >> x) got.insert(x);
    if (want == got) { std::cerr << "ok " << n << " numbers" << std::endl; return 0; }
    std::cerr << "wrong answer not a permutation" << std::endl;
    return 1;
}
"""

REVERSE = "n, *xs = open(0).read().split()\nprint(' '.join(reversed(xs)))\n"


def request(
    source: str, cases: list[TestCase], checker: Mapping[str, object], **changes: object
) -> JobRequest:
    base: dict[str, object] = {
        "language": "python",
        "source_code": source,
        "limits": Limits(cpu_time_ms=1000, wall_time_ms=5000),
        "test_cases": cases,
        "checker": {"type": "program", **checker},
    }
    base.update(changes)
    return JobRequest.model_validate(base)


async def nothing(_: Progress) -> None:
    pass


def python_checker(source: str) -> dict[str, object]:
    return {"language": "python", "source_code": textwrap.dedent(source)}


async def test_a_checker_accepts_any_permutation(sandbox: Sandbox) -> None:
    cases = [
        TestCase(stdin="3\n1 2 3\n", expected_stdout="1 2 3\n", name="three"),
        TestCase(stdin="4\n5 5 1 9\n", expected_stdout="1 5 5 9\n"),
    ]
    checker = python_checker(PERMUTATION_CHECKER)
    result = await judge(request(REVERSE, cases, checker), sandbox, nothing)
    assert result.verdict is Verdict.ACCEPTED
    assert [t.verdict for t in result.tests] == [Verdict.ACCEPTED, Verdict.ACCEPTED]
    assert result.tests[0].message == "ok a permutation of 3 numbers"
    assert result.tests[0].stdout == "3 2 1\n"
    assert result.tests[0].fraction == 1.0
    assert result.score == 100.0

    wrong = await judge(request("print('1 2 2')\n", cases[:1], checker), sandbox, nothing)
    assert wrong.verdict is Verdict.WRONG_ANSWER
    assert wrong.tests[0].message == "wrong answer 1 2 2 is not a permutation of the input"


async def test_a_checker_accepts_a_float_within_a_relative_error(sandbox: Sandbox) -> None:
    cases = [TestCase(stdin="", expected_stdout="0.333333333\n")]
    checker = python_checker(RELATIVE_CHECKER)
    close = await judge(request("print(0.33334)\n", cases, checker), sandbox, nothing)
    assert close.verdict is Verdict.ACCEPTED
    far = await judge(request("print(0.34)\n", cases, checker), sandbox, nothing)
    assert far.verdict is Verdict.WRONG_ANSWER
    assert far.tests[0].message == "wrong answer expected 0.333333333, found 0.34"
    garbled = await judge(request("print('a third')\n", cases, checker), sandbox, nothing)
    assert garbled.verdict is Verdict.WRONG_ANSWER
    assert garbled.tests[0].message == "presentation error: wrong output format not a number"


async def test_a_checker_gives_partial_points(sandbox: Sandbox) -> None:
    cases = [
        TestCase(stdin="", expected_stdout="1 2 3 4\n", points=2),
        TestCase(stdin="", expected_stdout="1 2 9 9\n", points=2),
    ]
    checker = python_checker(PARTIAL_CHECKER)
    result = await judge(request("print('1 2 3 4')\n", cases, checker), sandbox, nothing)
    assert [t.verdict for t in result.tests] == [Verdict.ACCEPTED, Verdict.PARTIAL]
    assert result.tests[1].fraction == 0.5
    assert result.tests[1].message == "points 0.5 2 of 4 right"
    assert result.verdict is Verdict.PARTIAL
    assert result.passed == 1
    assert result.score == 75.0  # 2 + 2 * 0.5 of 4 points


async def test_a_checker_that_crashes_is_a_checker_error(sandbox: Sandbox) -> None:
    cases = [TestCase(stdin="", expected_stdout="1\n"), TestCase(stdin="", expected_stdout="2\n")]
    checker = python_checker("import sys\nraise ValueError(open(sys.argv[3]).read().strip())\n")
    result = await judge(request("print(1)\n", cases, checker), sandbox, nothing)
    assert [t.verdict for t in result.tests] == [Verdict.CHECKER_ERROR] * 2
    assert result.tests[0].message == (
        "the checker crashed (an uncaught Python exception): ValueError: 1"
    )
    assert result.verdict is Verdict.CHECKER_ERROR
    assert result.passed == 0


async def test_a_checker_that_does_not_compile_is_a_checker_error(sandbox: Sandbox) -> None:
    need(sandbox, "cpp")
    cases = [TestCase(stdin="", expected_stdout="1\n")]
    checker = {"language": "cpp", "source_code": "int main( {"}
    result = await judge(request("print(1)\n", cases, checker), sandbox, nothing)
    assert result.verdict is Verdict.CHECKER_ERROR
    assert [t.verdict for t in result.tests] == [Verdict.SKIPPED]
    assert result.checker_compile_output is not None
    assert result.checker_compile_output.startswith("the checker does not compile")
    assert result.compile_output is None


async def test_a_cpp_checker_is_compiled_once_per_job_and_cached(sandbox: Sandbox) -> None:
    need(sandbox, "cpp")
    cases = [TestCase(stdin=f"3\n{i} {i + 1} 7\n", expected_stdout="") for i in range(6)]
    fresh = f"// {os.urandom(8).hex()}\n"  # never compiled before, by any earlier run
    checker = {"language": "cpp", "source_code": CPP_CHECKER + fresh}
    before = dict(sandbox.compile_stats)
    result = await judge(request(REVERSE, cases, checker), sandbox, nothing)
    assert result.verdict is Verdict.ACCEPTED, result
    assert result.tests[0].message == "ok 3 numbers"
    assert sandbox.compile_stats["miss"] - before["miss"] == 1
    again = await judge(request(REVERSE, cases, checker), sandbox, nothing)
    assert again.verdict is Verdict.ACCEPTED
    assert sandbox.compile_stats["miss"] - before["miss"] == 1  # the second job: a hit
    wrong = await judge(request("print(1, 2, 3)\n", cases[2:3], checker), sandbox, nothing)
    assert wrong.verdict is Verdict.WRONG_ANSWER
    assert wrong.tests[0].message == "wrong answer not a permutation"


async def test_a_cpp_checker_includes_a_header_given_as_a_file(sandbox: Sandbox) -> None:
    need(sandbox, "cpp")
    """How a job brings testlib.h: no Debian package ships it."""
    header = "#pragma once\n#include <cstdlib>\ninline int verdict_ok() { return 0; }\n"
    source = '#include "checklib.h"\nint main() { return verdict_ok(); }\n'
    checker = {"language": "cpp", "source_code": source, "files": {"checklib.h": header}}
    cases = [TestCase(stdin="", expected_stdout="")]
    result = await judge(request("print(1)\n", cases, checker), sandbox, nothing)
    assert result.verdict is Verdict.ACCEPTED, result.checker_compile_output


async def test_the_checker_never_sees_the_contestants_source(sandbox: Sandbox) -> None:
    checker = python_checker(
        """
        import os, sys
        mark = "CONTESTANT" + "-SOURCE"
        names = sorted(os.listdir("."))
        seen = [n for n in names if os.path.isfile(n) and mark in open(n).read()]
        sys.stderr.write(" ".join(names) + "\\n")
        sys.exit(1 if seen else 0)
        """
    )
    source = "# CONTESTANT-SOURCE\nprint('hi')\n"
    cases = [TestCase(stdin="", expected_stdout="hi\n")]
    result = await judge(request(source, cases, checker), sandbox, nothing)
    assert result.verdict is Verdict.ACCEPTED, result.tests[0].message
    assert result.tests[0].message == "answer.txt input.txt main.py output.txt"


async def test_a_hidden_case_keeps_its_checker_message_to_itself(sandbox: Sandbox) -> None:
    cases = [TestCase(stdin="1\n7\n", expected_stdout="7\n", hidden=True)]
    checker = python_checker(PERMUTATION_CHECKER)
    result = await judge(request("print(8)\n", cases, checker), sandbox, nothing)
    hidden = result.tests[0]
    assert hidden.verdict is Verdict.WRONG_ANSWER
    assert (hidden.message, hidden.stdout, hidden.transcript) == (None, None, None)


async def test_subtasks_with_a_dependency_and_partial_points(sandbox: Sandbox) -> None:
    cases = [
        TestCase(stdin="1 2\n", expected_stdout="1 2\n", name="sample"),
        TestCase(stdin="3 4\n", expected_stdout="3 9\n"),  # half right
        TestCase(stdin="bad\n", expected_stdout="5\n"),  # wrong
        TestCase(stdin="6\n", expected_stdout="6\n"),
        TestCase(stdin="7\n", expected_stdout="7\n"),
    ]
    subtasks = [
        {"name": "samples", "points": 0, "cases": [0]},
        {"name": "small", "points": 30, "cases": [0, 1], "depends_on": ["samples"]},
        {"name": "medium", "points": 30, "cases": [2, 3], "depends_on": ["small"]},
        {"name": "large", "points": 40, "cases": [4], "depends_on": ["medium"]},
    ]
    source = "s = input()\nprint(s if s != 'bad' else 'x')\n"
    checker = python_checker(PARTIAL_CHECKER)
    result = await judge(request(source, cases, checker, subtasks=subtasks), sandbox, nothing)
    assert result.subtasks is not None
    got = [(s.name, s.verdict, s.score) for s in result.subtasks]
    assert got == [
        ("samples", Verdict.ACCEPTED, 0.0),
        ("small", Verdict.PARTIAL, 15.0),
        ("medium", Verdict.WRONG_ANSWER, 0.0),
        ("large", Verdict.SKIPPED, 0.0),
    ]
    assert result.subtasks[2].verdicts == [Verdict.WRONG_ANSWER, Verdict.SKIPPED]
    assert result.subtasks[3].reason == "it depends on 'medium', which scored zero"
    assert result.score == 15.0
    verdicts = [t.verdict for t in result.tests]
    assert verdicts[:3] == [Verdict.ACCEPTED, Verdict.PARTIAL, Verdict.WRONG_ANSWER]
    assert verdicts[4] is Verdict.SKIPPED  # its subtask never started
    assert result.verdict is Verdict.PARTIAL
