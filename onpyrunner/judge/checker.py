"""A custom checker's run for one case: testlib's `checker input output answer`.

The checker runs in a fresh sandbox of its own with the checker limits (settings
checker_*), after the program's run, with three files in its working directory: the case's
input, the program's output and the expected answer. It never sees the program's source
or anything else of the contestant's.
"""

from __future__ import annotations

from onpyrunner.judge.testlib import ANSWER, INPUT, OUTPUT, Judgement, judgement
from onpyrunner.models import TestCase
from onpyrunner.sandbox.pool import Prepared, RunOptions, Sandbox


async def check(sandbox: Sandbox, checker: Prepared, case: TestCase, output: str) -> Judgement:
    """What the checker says of the program's output for one case.

    Raises:
        SandboxError: the sandbox failed (nothing is said about the program).
    """
    files = {
        INPUT: case.stdin.encode(),
        OUTPUT: output.encode(),
        ANSWER: case.expected_stdout.encode(),
    }
    run = await sandbox.run_prepared(
        checker, b"", sandbox.limits.checker, RunOptions(files=files, args=(INPUT, OUTPUT, ANSWER))
    )
    return judgement(run, "checker", sandbox.settings.checker_message_chars)
