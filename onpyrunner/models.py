"""The vocabulary shared by every layer: statuses, outcomes, verdicts, results, jobs.

The limits of a run are their own vocabulary: limits.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    JsonValue,
    Tag,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from onpyrunner.limits import Limits


def text_problem(value: str) -> str | None:
    """Why value is not Unicode text, or None when it is.

    JSON's "\\ud800" escape (half of a UTF-16 surrogate pair, with no other half) decodes
    to a str that has no UTF-8 form: it could reach neither the program's files, nor Redis,
    nor an answer. Every other str is text.
    """
    if value.isascii():
        return None
    try:
        value.encode()
    except UnicodeEncodeError as e:
        return (
            f"must be Unicode text: \\u{ord(value[e.start]):04x} at index {e.start} is half "
            "of a UTF-16 surrogate pair, which has no UTF-8 form"
        )
    return None


def _text(value: str) -> str:
    problem = text_problem(value)
    if problem is not None:
        raise PydanticCustomError("string_unicode", problem)
    return value


#: A str field of a request: refused (422, naming the field) when it is not Unicode text.
#: pydantic passes an unconstrained str through as Python decoded it, surrogates and all.
Text = Annotated[str, AfterValidator(_text)]


class JobStatus(StrEnum):
    """Where a job is in its life."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


TERMINAL_STATUSES = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})


class Outcome(StrEnum):
    """What one run of the user's program did.

    When several apply, the first in this priority order wins (see sandbox/verdict.py):
    MEMORY_LIMIT_EXCEEDED (kernel OOM evidence), OUTPUT_LIMIT_EXCEEDED,
    TIME_LIMIT_EXCEEDED, RUNTIME_ERROR, SUCCESS. COMPILE_ERROR ends a job before any run.
    """

    SUCCESS = "SUCCESS"
    RUNTIME_ERROR = "RUNTIME_ERROR"
    TIME_LIMIT_EXCEEDED = "TIME_LIMIT_EXCEEDED"
    MEMORY_LIMIT_EXCEEDED = "MEMORY_LIMIT_EXCEEDED"
    OUTPUT_LIMIT_EXCEEDED = "OUTPUT_LIMIT_EXCEEDED"
    COMPILE_ERROR = "COMPILE_ERROR"


class Verdict(StrEnum):
    """A judged test case (or a whole judge job, or a subtask).

    PARTIAL: a custom checker or interactor gave part of the case's points (testlib's
    `points`). CHECKER_ERROR: the problem's own checker or interactor failed (testlib's
    `fail`, a crash, a limit, a compile error): a service-side verdict, never the
    contestant's fault, and never counted as their failure (see SERVICE_VERDICTS).
    """

    ACCEPTED = "ACCEPTED"
    PARTIAL = "PARTIAL"
    WRONG_ANSWER = "WRONG_ANSWER"
    TIME_LIMIT_EXCEEDED = "TIME_LIMIT_EXCEEDED"
    MEMORY_LIMIT_EXCEEDED = "MEMORY_LIMIT_EXCEEDED"
    OUTPUT_LIMIT_EXCEEDED = "OUTPUT_LIMIT_EXCEEDED"
    RUNTIME_ERROR = "RUNTIME_ERROR"
    COMPILE_ERROR = "COMPILE_ERROR"
    CHECKER_ERROR = "CHECKER_ERROR"
    SKIPPED = "SKIPPED"


#: Verdicts that say the service (the problem's checker or interactor) failed, not the
#: contestant's program.
SERVICE_VERDICTS = frozenset({Verdict.CHECKER_ERROR})


class Usage(BaseModel):
    """What the kernel measured for one run."""

    model_config = ConfigDict(frozen=True)

    cpu_time_ms: int
    wall_time_ms: int
    memory_kb: int


class RunResult(BaseModel):
    """The classified result of one run: the product's result object."""

    model_config = ConfigDict(frozen=True)

    outcome: Outcome
    stdout: str
    stderr: str
    exit_code: int | None
    signal: int | None
    usage: Usage
    compile_output: str | None = None
    #: Wall time (ms, as the sandbox measured it) of the compile this job ran: 0 when its
    #: program came from the compile cache; None for a language that does not compile.
    compile_time_ms: int | None = None
    #: Files the run was asked to give back: path -> content, base64. A path that was
    #: missing, not a regular file, or over the size cap is absent. Left out of the result
    #: when none was asked for.
    files: dict[str, str] | None = Field(None, exclude_if=lambda files: files is None)
    #: stdout and stderr interleaved in the order the host read them, when the request
    #: asked for it (`interleave_output`); left out of the result otherwise.
    output: str | None = Field(None, exclude_if=lambda output: output is None)


class TestKind(StrEnum):
    """How a case judges the program (docs/judge.md): by what it prints, by what one of
    its functions returns, or by test code run after it."""

    STDIO = "stdio"
    FUNCTION_CALL = "function_call"
    ASSERT = "assert"


#: The fields each kind of case needs (beyond stdin, points, hidden and name, which every
#: kind has); a field of another kind is refused.
KIND_FIELDS: dict[TestKind, frozenset[str]] = {
    TestKind.STDIO: frozenset({"expected_stdout"}),
    TestKind.FUNCTION_CALL: frozenset({"fn_name", "args", "expected"}),
    TestKind.ASSERT: frozenset({"test_code"}),
}


@dataclass(frozen=True)
class _Misfit:
    """A field of a test case that its kind needs and it lacks, or that is another kind's."""

    kind: str
    needed: bool


class TestCase(BaseModel):
    """One judged case: the program's input, and what it must do: print the expected
    output (stdio), return the expected value from a call (function_call), or pass test
    code run after it (assert)."""

    __test__ = False  # not a pytest class, despite the name

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: TestKind = TestKind.STDIO
    stdin: Text = ""
    #: Required for a stdio case (checked below, so that the other kinds can leave it out).
    expected_stdout: Text = Field("", description="stdio (required): the output it must print")
    # strict: a number, not "1"; finite, as JSON numbers are (Python's parser takes NaN)
    points: float = Field(1.0, ge=0, strict=True, allow_inf_nan=False)
    hidden: bool = Field(False, strict=True)  # true or false, not 0 or "yes"
    name: Text | None = Field(None, max_length=200)
    fn_name: str | None = Field(
        None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,199}$",
        description="function_call: the function called (or a method of class Solution)",
    )
    args: list[JsonValue] | None = Field(
        None, description="function_call: the arguments, a JSON list"
    )
    expected: JsonValue = Field(None, description="function_call: the value it must return")
    test_code: Text | None = Field(
        None, description="assert: code run after the program, in the same interpreter"
    )

    @model_validator(mode="before")
    @classmethod
    def _fields_of_kind(cls, data: object) -> object:
        """Mark a field the case's kind needs but lacks, or has but is another kind's, so
        that its own validator refuses it (the error then names the field)."""
        if not isinstance(data, dict):
            return data
        try:
            kind = TestKind(data.get("kind", TestKind.STDIO))
        except ValueError:
            return data  # the field's own error names the kinds
        needed = KIND_FIELDS[kind]
        marked = dict(data)
        for field in needed - data.keys():
            marked[field] = _Misfit(kind, needed=True)
        # A stored request has every field, None where unused (expected_stdout "").
        for field in set().union(*KIND_FIELDS.values()) - needed:
            if data.get(field) not in (None, ""):
                marked[field] = _Misfit(kind, needed=False)
        return marked

    @field_validator("expected_stdout", "fn_name", "args", "expected", "test_code", mode="before")
    @classmethod
    def _misfit(cls, value: object) -> object:
        if isinstance(value, _Misfit):
            if value.needed:
                raise PydanticCustomError(
                    "missing", "Field required ({kind} cases need it)", {"kind": value.kind}
                )
            raise PydanticCustomError(
                "extra_forbidden", "is not for {kind} cases", {"kind": value.kind}
            )
        return value


class FloatChecker(BaseModel):
    """Compare tokens, numerically where both parse as numbers, within tolerances."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["float"]
    abs_tol: float = Field(1e-6, ge=0, strict=True, allow_inf_nan=False)
    rel_tol: float = Field(1e-6, ge=0, strict=True, allow_inf_nan=False)


#: A file name beside a checker's or interactor's source (a header such as testlib.h):
#: letters, digits, '.', '_' and '-', not starting with '.'.
FileName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,99}$")]


class ProblemProgram(BaseModel):
    """A program of the problem's own (a checker or an interactor): its language, its
    source, and more files beside the source (a header such as testlib.h)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    language: Text = Field("python", description="a runtime id from GET /languages")
    source_code: Text
    files: dict[FileName, Text] = Field(
        default_factory=dict,
        max_length=16,
        description="more files beside the source, by name (e.g. testlib.h): compiled with "
        "it, or beside it when it runs",
    )


class ProgramChecker(ProblemProgram):
    """A custom checker, testlib's protocol: `checker input output answer`, verdict by exit
    code (0 accepted, 1 wrong answer, 2 presentation error, 3 failure, 7 points), message
    on the first line of stderr."""

    type: Literal["program"]


class Interactor(ProblemProgram):
    """An interactor, testlib's protocol: it talks with the program over its stdin and
    stdout, reads the case's input from `input`, and gives its verdict by exit code."""


def _checker_kind(value: object) -> str | None:
    """Which kind of checker a value is: a built-in by name, or an object by its type (so
    that a 422 names the field of that kind that is wrong, not every kind's)."""
    if isinstance(value, str):
        return "named"
    if isinstance(value, dict):
        kind = value.get("type")
        return kind if kind in ("float", "program") else None
    if isinstance(value, FloatChecker | ProgramChecker):
        return value.type
    return None


#: A built-in checker by name, the float comparison, or a custom checker program.
Checker = Annotated[
    Annotated[Literal["lines", "exact", "tokens", "livecodebench"], Tag("named")]
    | Annotated[FloatChecker, Tag("float")]
    | Annotated[ProgramChecker, Tag("program")],
    Discriminator(
        _checker_kind,
        custom_error_type="checker_kind",
        custom_error_message="must be 'lines', 'exact', 'tokens', 'livecodebench', or an object "
        "whose type is 'float' or 'program'",
    ),
]


class Subtask(BaseModel):
    """A group of cases scored together, IOI-style: its points times the minimum of its
    cases' scores; skipped when a subtask it depends on scored zero."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Text = Field(min_length=1, max_length=200)
    points: float = Field(strict=True, ge=0, le=1_000_000, allow_inf_nan=False)
    cases: list[Annotated[int, Field(strict=True, ge=0)]] = Field(
        min_length=1, description="indexes into test_cases, from 0"
    )
    depends_on: list[Text] = Field(
        default_factory=list, description="names of earlier subtasks this one needs"
    )


class Reference(BaseModel):
    """The program a submission's performance is measured against."""

    model_config = ConfigDict(frozen=True)

    language: str
    source_code: str


#: CPU time counts three times as much as memory unless a request says otherwise.
DEFAULT_CPU_TIME_WEIGHT = 0.75
DEFAULT_MEMORY_WEIGHT = 0.25


class Weights(BaseModel):
    """How much CPU time and peak memory count in a performance score (relative: only
    their proportion matters; at least one must be above 0)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cpu_time: float = Field(DEFAULT_CPU_TIME_WEIGHT, ge=0, strict=True, allow_inf_nan=False)
    memory: float = Field(DEFAULT_MEMORY_WEIGHT, ge=0, strict=True, allow_inf_nan=False)

    @model_validator(mode="after")
    def _one_counts(self) -> Weights:
        if self.cpu_time + self.memory <= 0:
            raise PydanticCustomError("value_error", "at least one weight must be above 0")
        return self


class PerformanceRequest(BaseModel):
    """What a judge job's performance measurement runs, checked and resolved: the case
    indexes (every case when the request named none) and the repeat count."""

    model_config = ConfigDict(frozen=True)

    reference: Reference | None = None
    cases: list[int]
    repeat: int
    weights: Weights = Weights()


class JobRequest(BaseModel):
    """Everything a worker needs to run a job: validated, limits resolved."""

    model_config = ConfigDict(frozen=True)

    language: str
    source_code: str
    stdin: str = ""
    limits: Limits
    #: The limits of the program's compile (a compiled language), resolved; None: the
    #: worker's compile limits (a request queued before requests had them).
    compile_limits: Limits | None = None
    test_cases: list[TestCase] | None = None
    #: A stored test set's id, in place of test_cases: the worker reads its cases from
    #: the job store (judge/testsets.py) and runs the job with them.
    test_set: str | None = None
    checker: Checker = "lines"
    stop_on_first_failure: bool = False
    performance: PerformanceRequest | None = None
    interactor: Interactor | None = None
    subtasks: list[Subtask] | None = None
    #: A live session: stdin stays open for what a client sends (WS /jobs/{id}/session),
    #: output is published as it is written. Plain runs only.
    interactive: bool = False
    #: Output published as it is written, for the events WebSocket. Plain runs only.
    stream: bool = False
    #: The result also holds stdout and stderr interleaved (RunResult.output).
    interleave_output: bool = False
    #: More files in the working directory: relative path -> content, base64.
    files: dict[str, str] = Field(default_factory=dict)
    #: Arguments after the run command.
    args: list[str] = Field(default_factory=list)
    #: More compiler options (checked against the language's allow-list).
    compiler_options: list[str] = Field(default_factory=list)
    #: Files to give back after the run (relative paths): RunResult.files.
    fetch_files: list[str] = Field(default_factory=list)
    #: The batch (POST /batches) the job belongs to: it waits in the batch lane.
    batch_id: str | None = None

    @property
    def live(self) -> bool:
        """Whether its run publishes output as it is written (a session or a stream)."""
        return self.interactive or self.stream


class Progress(BaseModel):
    """How far a judge job has got: runs done of all it will make (one per case, plus the
    performance runs when it measures performance)."""

    done: int
    total: int


class TranscriptMessage(BaseModel):
    """What one side of an interactive exchange wrote (consecutive writes merged)."""

    side: Literal["program", "interactor"]
    data: str


class Transcript(BaseModel):
    """Both directions of an interactive case, in the order the host relayed them, each
    direction bounded (`interactor_transcript_kb`); `truncated` when one went past."""

    messages: list[TranscriptMessage]
    truncated: bool = False


class TestResult(BaseModel):
    """One case of a judge job. For a hidden case only name, verdict, fraction and usage
    are set."""

    __test__ = False

    name: str | None
    verdict: Verdict
    hidden: bool = False
    outcome: Outcome | None = None
    stdout: str | None = None
    stderr: str | None = None
    exit_code: int | None = None
    signal: int | None = None
    usage: Usage | None = None
    diff: str | None = None
    #: The share of the case's points earned, 0-1, when a custom checker or an interactor
    #: judged it (between 0 and 1 for PARTIAL); None otherwise.
    fraction: float | None = None
    #: The first line of the custom checker's or interactor's stderr (bounded), or why it
    #: failed (CHECKER_ERROR).
    message: str | None = None
    transcript: Transcript | None = None


class SubtaskResult(BaseModel):
    """One subtask of a judge job: what it was worth and what it scored."""

    name: str
    points: float
    #: Points earned: points times the minimum of its cases' scores.
    score: float
    #: ACCEPTED, PARTIAL, the verdict of its first failing case, or SKIPPED.
    verdict: Verdict
    cases: list[int]
    #: The verdict of each of `cases` within this subtask: SKIPPED after its first failure.
    verdicts: list[Verdict]
    #: Why it was skipped (a dependency scored zero), when it was.
    reason: str | None = None


class PerformanceBasis(StrEnum):
    """What a performance score compares the submission with."""

    REFERENCE = "REFERENCE"  # a reference program, run interleaved with the submission
    LIMITS = "LIMITS"  # the job's CPU time and memory limits


class Unscored(StrEnum):
    """Why a judge job that asked for a performance score has none."""

    SUBMISSION_FAILED = "SUBMISSION_FAILED"  # not accepted on a measured case, or a run
    REFERENCE_FAILED = "REFERENCE_FAILED"  # the reference not accepted on a measured case
    REFERENCE_COMPILE_ERROR = "REFERENCE_COMPILE_ERROR"
    REFERENCE_LANGUAGE_UNAVAILABLE = "REFERENCE_LANGUAGE_UNAVAILABLE"  # not on this worker
    OUT_OF_TIME = "OUT_OF_TIME"  # the job reached max_judge_wall_s before the runs ended


class Figures(BaseModel):
    """CPU time and peak memory of one program on one case: medians over its runs (or,
    for the limits basis, the limits)."""

    cpu_time_ms: float
    memory_kb: float


class CasePerformance(BaseModel):
    """One measured case: the submission against the baseline (the reference's medians,
    or the job's limits), the ratios of the medians, the range of the per-run ratios, and
    the case's own score."""

    case: int  # index in test_cases
    name: str | None
    runs: int  # runs of the submission (and as many of the reference)
    submission: Figures
    baseline: Figures
    cpu_time_ratio: float
    memory_ratio: float
    cpu_time_ratio_range: tuple[float, float]
    memory_ratio_range: tuple[float, float]
    score: float


class Performance(BaseModel):
    """How a judge job's performance was measured, and what came of it. The score itself
    is JudgeResult.performance_score: null when `reason` says why there is none."""

    basis: PerformanceBasis
    repeat: int
    weights: Weights
    #: The weighted combination of the cases' ratios the score comes from (reference: a
    #: weighted geometric mean of submission/reference; limits: the weighted share of the
    #: limits used), and its range over the rounds of runs.
    ratio: float | None = None
    ratio_range: tuple[float, float] | None = None
    #: The scores of the rounds of runs, each scored alone: the noise next to the score.
    score_range: tuple[float, float] | None = None
    reason: Unscored | None = None
    detail: str | None = None
    cases: list[CasePerformance] = Field(default_factory=list)


class JudgeResult(BaseModel):
    """The result of a judge job: per-case verdicts and the whole."""

    verdict: Verdict
    passed: int
    total: int
    score: float
    usage: Usage
    tests: list[TestResult]
    compile_output: str | None = None
    #: The program's compile, as RunResult.compile_time_ms.
    compile_time_ms: int | None = None
    #: 0-100 when the job asked for performance and got a score (docs/performance.md).
    performance_score: float | None = None
    performance: Performance | None = None
    #: The compiler's messages when the custom checker or the interactor does not compile.
    checker_compile_output: str | None = None
    subtasks: list[SubtaskResult] | None = None


class Timestamps(BaseModel):
    """When each stage of a job happened (UTC)."""

    received_at: datetime
    picked_up_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    stored_at: datetime | None = None


class Origin(BaseModel):
    """Where a job came from: the API it was submitted through and what that API must
    answer back about it (a compatible API's echo of the request). Opaque to the
    pipeline, kept with the job for its TTL, never shown by the native API."""

    model_config = ConfigDict(frozen=True)

    api: str = "native"
    data: dict[str, str] = Field(default_factory=dict)
    #: The id of the access token the job was submitted with (never the token itself; see
    #: api/auth.py), or None on an open service.
    token_id: str | None = None


NATIVE = Origin()


class InputFacts(BaseModel):
    """What is kept of a job's input once its request is dropped (when it ends), for its
    history: the source's SHA-256 and size always; the source and stdin themselves, cut to
    a cap, only when the history keeps texts (setting history_keep_content)."""

    model_config = ConfigDict(frozen=True)

    source_sha256: str
    source_bytes: int
    source_code: str | None = None
    stdin: str | None = None


class Job(BaseModel):
    """A job as stored: its state, not its program."""

    id: str
    status: JobStatus
    language: str
    limits: Limits
    judge: bool = False
    #: Submitted `interactive` (a live session) or `stream` (output as written).
    interactive: bool = False
    stream: bool = False
    timestamps: Timestamps
    result: RunResult | JudgeResult | None = None
    error: str | None = None
    attempts: int = 0
    progress: Progress | None = None
    origin: Origin = NATIVE
    #: The worker holding (or that last held) the job.
    worker: str | None = None
    input: InputFacts | None = None
