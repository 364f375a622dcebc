"""Interactive problems through the real sandbox: guess the number, and programs that try to
hang the exchange (never answer, flood, close their pipe early)."""

from __future__ import annotations

import os
import textwrap

import pytest

from onpyrunner.judge.run import judge
from onpyrunner.limits import Limits
from onpyrunner.models import JobRequest, Progress, TestCase, Verdict
from onpyrunner.sandbox.pool import Sandbox
from tests.toolchains import need

pytestmark = pytest.mark.sandbox

# The secret is the input file's number, 1 to 100; the program asks "? x" and is told
# "<" (the secret is smaller), ">" (larger) or "=" (found), at most 7 questions.
GUESS_INTERACTOR = textwrap.dedent(
    """
    import sys
    secret = int(open(sys.argv[1]).read())
    print(1, 100, flush=True)
    for asked in range(1, 8):
        line = sys.stdin.readline()
        if not line:
            sys.stderr.write("wrong output format unexpected end of the program's output\\n")
            sys.exit(2)
        parts = line.split()
        if len(parts) != 2 or parts[0] != "?" or not parts[1].isdigit():
            sys.stderr.write(f"wrong output format {line[:30]!r} is not a question\\n")
            sys.exit(2)
        guess = int(parts[1])
        if guess == secret:
            print("=", flush=True)
            sys.stderr.write(f"ok found {secret} in {asked} questions\\n")
            sys.exit(0)
        print("<" if secret < guess else ">", flush=True)
    sys.stderr.write("wrong answer too many questions\\n")
    sys.exit(1)
    """
)

BINARY_SEARCH = textwrap.dedent(
    """
    lo, hi = map(int, input().split())
    while True:
        mid = (lo + hi) // 2
        print("?", mid, flush=True)
        said = input()
        if said == "=":
            break
        if said == "<":
            hi = mid - 1
        else:
            lo = mid + 1
    """
)

LINEAR = textwrap.dedent(
    """
    input()
    for guess in range(1, 101):
        print("?", guess, flush=True)
        if input() == "=":
            break
    """
)


def request(source: str, secrets: list[int], **changes: object) -> JobRequest:
    base: dict[str, object] = {
        "language": "python",
        "source_code": source,
        "limits": Limits(cpu_time_ms=1000, wall_time_ms=3000),
        "test_cases": [TestCase(stdin=f"{s}\n", expected_stdout="") for s in secrets],
        "interactor": {"language": "python", "source_code": GUESS_INTERACTOR},
    }
    base.update(changes)
    return JobRequest.model_validate(base)


async def nothing(_: Progress) -> None:
    pass


async def test_binary_search_guesses_the_number(sandbox: Sandbox) -> None:
    result = await judge(request(BINARY_SEARCH, [1, 37, 100]), sandbox, nothing)
    assert [t.verdict for t in result.tests] == [Verdict.ACCEPTED] * 3, result
    assert result.verdict is Verdict.ACCEPTED
    first = result.tests[0]
    assert first.message == "ok found 1 in 6 questions"
    assert first.transcript is not None
    said = [(m.side, m.data) for m in first.transcript.messages]
    assert said[:3] == [("interactor", "1 100\n"), ("program", "? 50\n"), ("interactor", "<\n")]
    assert said[-1] == ("interactor", "=\n")
    assert not first.transcript.truncated


async def test_too_many_questions_is_a_wrong_answer(sandbox: Sandbox) -> None:
    result = await judge(request(LINEAR, [3, 50]), sandbox, nothing)
    assert [t.verdict for t in result.tests] == [Verdict.ACCEPTED, Verdict.WRONG_ANSWER]
    wrong = result.tests[1]
    assert wrong.message == "wrong answer too many questions"
    assert wrong.transcript is not None
    answered = "".join(m.data for m in wrong.transcript.messages if m.side == "interactor")
    assert answered == "1 100\n" + ">\n" * 7  # then it gave up: no answer to an 8th


async def test_a_program_that_never_answers_ends_as_a_time_limit(sandbox: Sandbox) -> None:
    for source in ("import time\ntime.sleep(1000)\n", "input()\ninput()\n"):
        result = await judge(request(source, [42]), sandbox, nothing)
        assert result.tests[0].verdict is Verdict.TIME_LIMIT_EXCEEDED, source


async def test_a_program_that_floods_the_pipe_is_stopped_at_its_output_limit(
    sandbox: Sandbox,
) -> None:
    flood = "import sys\nwhile True:\n    sys.stdout.write('9' * 65536)\n"
    result = await judge(request(flood, [42]), sandbox, nothing)
    assert result.tests[0].verdict is Verdict.OUTPUT_LIMIT_EXCEEDED
    transcript = result.tests[0].transcript
    assert transcript is not None and transcript.truncated


async def test_a_program_that_floods_questions_ends_with_a_verdict(sandbox: Sandbox) -> None:
    """The interactor gives up after 7 questions while the program, never waiting for an
    answer, races to its output limit: both end within milliseconds, and which the host
    sees first is not determined. Either verdict is earned; the exchange ends."""
    flood = "while True:\n    print('? 1', flush=True)\n"
    result = await judge(request(flood, [42]), sandbox, nothing)
    case = result.tests[0]
    assert case.verdict in (Verdict.WRONG_ANSWER, Verdict.OUTPUT_LIMIT_EXCEEDED)
    if case.verdict is Verdict.WRONG_ANSWER:
        assert case.message == "wrong answer too many questions"
    assert case.transcript is not None
    answered = "".join(m.data for m in case.transcript.messages if m.side == "interactor")
    assert answered == "1 100\n" + ">\n" * 7


async def test_a_program_that_closes_its_pipe_early_is_judged_by_the_interactor(
    sandbox: Sandbox,
) -> None:
    result = await judge(request("import os\nos.close(1)\n", [42]), sandbox, nothing)
    assert result.tests[0].verdict is Verdict.WRONG_ANSWER
    assert result.tests[0].message == (
        "presentation error: wrong output format unexpected end of the program's output"
    )
    # The interactor sees the end of the program's output when the program ends: one
    # that closes its pipes and stays runs into the exchange's wall limit.
    stays = await judge(
        request("import os, time\nos.close(1)\nos.close(0)\ntime.sleep(100)\n", [42]),
        sandbox,
        nothing,
    )
    assert stays.tests[0].verdict is Verdict.TIME_LIMIT_EXCEEDED


async def test_a_program_that_crashes_first_is_a_runtime_error(sandbox: Sandbox) -> None:
    result = await judge(request("input()\nraise SystemExit(3)\n", [42]), sandbox, nothing)
    assert result.tests[0].verdict is Verdict.RUNTIME_ERROR
    assert result.tests[0].exit_code == 3


async def test_an_interactor_that_fails_is_a_checker_error(sandbox: Sandbox) -> None:
    interactor = {"language": "python", "source_code": "import sys\nsys.exit(3)\n"}
    result = await judge(request(BINARY_SEARCH, [42], interactor=interactor), sandbox, nothing)
    assert result.tests[0].verdict is Verdict.CHECKER_ERROR
    assert result.verdict is Verdict.CHECKER_ERROR


async def test_a_cpp_program_talks_with_the_interactor(sandbox: Sandbox) -> None:
    need(sandbox, "cpp")
    source = textwrap.dedent(
        f"""
        // {os.urandom(8).hex()}
        #include <iostream>
        #include <string>
        int main() {{
            int lo, hi; std::cin >> lo >> hi;
            while (true) {{
                int mid = (lo + hi) / 2;
                std::cout << "? " << mid << std::endl;
                std::string said; std::cin >> said;
                if (said == "=") return 0;
                if (said == "<") hi = mid - 1; else lo = mid + 1;
            }}
        }}
        """
    )
    result = await judge(request(source, [77, 2], language="cpp"), sandbox, nothing)
    assert [t.verdict for t in result.tests] == [Verdict.ACCEPTED] * 2, result


async def test_a_hidden_interactive_case_shows_no_transcript(sandbox: Sandbox) -> None:
    body = request(BINARY_SEARCH, [5])
    assert body.test_cases is not None
    hidden = body.model_copy(
        update={"test_cases": [body.test_cases[0].model_copy(update={"hidden": True})]}
    )
    result = await judge(hidden, sandbox, nothing)
    case = result.tests[0]
    assert case.verdict is Verdict.ACCEPTED
    assert (case.transcript, case.message, case.stdout) == (None, None, None)
