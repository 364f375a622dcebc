"""testlib's protocol, as the problem's own programs (custom checkers and interactors) speak
it: the verdict is the exit code, the message the first line of stderr.

| exit | testlib   | verdict                                                          |
| ---- | --------- | ---------------------------------------------------------------- |
| 0    | _ok       | ACCEPTED                                                         |
| 1    | _wa       | WRONG_ANSWER                                                     |
| 2    | _pe       | WRONG_ANSWER, noted as a presentation error                      |
| 4, 8 | _dirt, _unexpected_eof (older builds, or -DENABLE_UNEXPECTED_EOF) | as 2 |
| 3    | _fail     | CHECKER_ERROR: the checker itself failed                         |
| 7    | _points   | stderr starts `points X`: X of the case's points (0 <= X <= 1);  |
|      |           | PARTIAL between, ACCEPTED at 1, WRONG_ANSWER at 0                |

Anything else (another exit code, a signal, a limit) is CHECKER_ERROR, with the reason as
the message; so is an exit code 1 with a Python traceback on stderr (CPython and PyPy exit
with 1 on an uncaught exception, which testlib would read as a wrong answer). The problem's
program failed, which is never the contestant's fault. Points are a fraction of the case's
points, as DMOJ reads testlib's `quitp`; a value outside 0..1 is the checker's failure.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from onpyrunner.models import Outcome, RunResult, Verdict

OK, WA, PE, FAIL, DIRT, POINTS, UNEXPECTED_EOF = 0, 1, 2, 3, 4, 7, 8
#: The files of the protocol, in the working directory of the checker or interactor, and
#: its arguments in this order: the case's input, the program's output (an interactor
#: writes its own there), the expected answer.
INPUT, OUTPUT, ANSWER = "input.txt", "output.txt", "answer.txt"
_PRESENTATION = frozenset({PE, DIRT, UNEXPECTED_EOF})
_POINTS_LINE = re.compile(r"points\s+([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\b")
_TRACEBACK = "Traceback (most recent call last):"
_LIMIT_WORDS = {
    Outcome.TIME_LIMIT_EXCEEDED: "went over its time limit",
    Outcome.MEMORY_LIMIT_EXCEEDED: "went over its memory limit",
    Outcome.OUTPUT_LIMIT_EXCEEDED: "went over its output limit",
}


@dataclass(frozen=True)
class Judgement:
    """What a checker or an interactor said about one case."""

    verdict: Verdict
    #: The share of the case's points earned, 0-1.
    fraction: float
    message: str | None = None


def first_line(stderr: str, max_chars: int) -> str | None:
    """The first line of stderr, cut to max_chars (None when there is none)."""
    line = stderr.lstrip("\n").split("\n", 1)[0].strip()
    if not line:
        return None
    return line if len(line) <= max_chars else line[: max(0, max_chars - 3)] + "..."


def _failed(role: str, why: str, line: str | None) -> Judgement:
    message = f"the {role} {why}" + (f": {line}" if line else "")
    return Judgement(Verdict.CHECKER_ERROR, 0.0, message)


def judgement(run: RunResult, role: str, max_chars: int) -> Judgement:
    """The verdict a checker's or interactor's run gives, by testlib's protocol.

    Args:
        role: "checker" or "interactor", for the messages.
        max_chars: the message's bound (setting checker_message_chars).
    """
    line = first_line(run.stderr, max_chars)
    if run.outcome in _LIMIT_WORDS:
        return _failed(role, _LIMIT_WORDS[run.outcome], line)
    if run.exit_code is None:
        return _failed(role, f"was killed by signal {run.signal}", line)
    code = run.exit_code
    if code == OK:
        return Judgement(Verdict.ACCEPTED, 1.0, line)
    if code == WA and _TRACEBACK in run.stderr:
        last = first_line(run.stderr.rstrip().rsplit("\n", 1)[-1], max_chars)
        return _failed(role, "crashed (an uncaught Python exception)", last)
    if code == WA:
        return Judgement(Verdict.WRONG_ANSWER, 0.0, line)
    if code in _PRESENTATION:
        note = "presentation error" + (f": {line}" if line else "")
        return Judgement(Verdict.WRONG_ANSWER, 0.0, first_line(note, max_chars))
    if code == FAIL:
        return _failed(role, "failed (testlib's fail, exit code 3)", line)
    if code == POINTS:
        return _points(run.stderr, role, line)
    return _failed(role, f"exited with code {code}, which testlib's protocol does not define", line)


def _points(stderr: str, role: str, line: str | None) -> Judgement:
    found = _POINTS_LINE.match(stderr.lstrip())
    if found is None:
        return _failed(role, "exited with code 7 (points) without a 'points X' line", line)
    fraction = float(found.group(1))
    if not (math.isfinite(fraction) and 0.0 <= fraction <= 1.0):
        return _failed(role, f"gave {found.group(1)} points, outside 0 to 1", line)
    if fraction == 1.0:
        return Judgement(Verdict.ACCEPTED, 1.0, line)
    if fraction == 0.0:
        return Judgement(Verdict.WRONG_ANSWER, 0.0, line)
    return Judgement(Verdict.PARTIAL, fraction, line)
