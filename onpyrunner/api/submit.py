"""The native submission path, shared by POST /execute and every compatible API.

`job_request` turns a parsed JobCreate into a JobRequest the workers can trust: sizes,
the languages (the program's, and a performance reference's), the limits and the
performance request checked against this server (shape and types were checked by
pydantic); every problem names its field, as FastAPI's own 422 does. `submit` and
`submit_many` put jobs on the queue. A compatible API builds a JobCreate from its own
wire format, calls these, and renders the Job back: it has no queueing, limit or error
logic of its own.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

from fastapi.exceptions import RequestValidationError
from starlette.requests import HTTPConnection

from onpyrunner.api import waiting
from onpyrunner.api.auth import request_token_id
from onpyrunner.api.errors import field_error
from onpyrunner.api.schemas import JobCreate, LimitsIn
from onpyrunner.api.services import Services
from onpyrunner.errors import JobNotFoundError
from onpyrunner.judge import testsets
from onpyrunner.languages.catalogue import shipped_specs, spec_of
from onpyrunner.limits import Limits, LimitsError
from onpyrunner.models import (
    NATIVE,
    Job,
    JobRequest,
    Origin,
    PerformanceRequest,
    ProblemProgram,
    ProgramChecker,
    Reference,
    TestCase,
)
from onpyrunner.queue.store import new_job
from onpyrunner.settings import Settings

#: Characters of a run's arguments, all together (the kernel's limit is far above).
MAX_ARGS_CHARS = 64 * 1024


def origin(conn: HTTPConnection, api: str = "native", data: dict[str, str] | None = None) -> Origin:
    """Where a request's job comes from: the API (a compatible API's name, and what it must
    answer back), and the id of the access token the request came with."""
    return Origin(api=api, data=data or {}, token_id=request_token_id(conn))


def _new_job(svc: Services, request: JobRequest, origin: Origin) -> Job:
    """A new job, with the input facts its history keeps."""
    settings = svc.settings
    keep = settings.history_content_max_kb * 1024
    return new_job(
        request, origin, keep if settings.history and settings.history_keep_content else None
    )


def _over(loc: tuple[str | int, ...], size: int, maximum: int) -> list[dict[str, Any]]:
    if size <= maximum:
        return []
    return [field_error(("body", *loc), f"is larger than the server maximum of {maximum} bytes")]


def case_errors(
    cases: list[TestCase], settings: Settings, loc: tuple[str, ...] = ("test_cases",)
) -> list[dict[str, Any]]:
    """The server's checks of a list of test cases (a job's or a test set's): how many, and
    each case's sizes (stdin, test code and arguments each up to max_stdin_kb)."""
    max_stdin = settings.max_stdin_kb * 1024
    errors: list[dict[str, Any]] = []
    if not cases:
        errors.append(field_error(("body", *loc), "must hold at least one case"))
    if len(cases) > settings.max_test_cases:
        errors.append(
            field_error(
                ("body", *loc),
                f"has {len(cases)} cases; the server maximum is {settings.max_test_cases}",
            )
        )
    for i, case in enumerate(cases):
        errors += _over((*loc, i, "stdin"), len(case.stdin.encode()), max_stdin)
        if case.test_code is not None:
            errors += _over((*loc, i, "test_code"), len(case.test_code.encode()), max_stdin)
        if case.args is not None:
            errors += _over((*loc, i, "args"), len(json.dumps(case.args).encode()), max_stdin)
    return errors


def _size_errors(body: JobCreate, svc: Services) -> list[dict[str, Any]]:
    settings = svc.settings
    max_stdin = settings.max_stdin_kb * 1024
    errors = _over(("source_code",), len(body.source_code.encode()), settings.max_source_kb * 1024)
    errors += _over(("stdin",), len(body.stdin.encode()), max_stdin)
    if body.test_cases is not None and body.test_set is None:  # a set's were checked on upload
        errors += case_errors(body.test_cases, settings)
    for flag in ("interactive", "stream"):
        if getattr(body, flag) and body.test_cases is not None:
            errors.append(field_error(("body", flag), "is for plain runs only, not test_cases"))
    return errors


#: Characters of a path of `files` or `fetch_files`, and bytes of one of its parts.
MAX_PATH_CHARS = 1024
MAX_PATH_PART_BYTES = 255


def path_problem(path: str) -> str | None:
    """Why path cannot name a file of the program's working directory, or None: it must be
    relative and normalised, never go up, and not be a name the sandbox keeps."""
    if not path:
        return "must be a relative path, not empty"
    if path.startswith("/"):
        return "must be a relative path, not an absolute one"
    parts = path.split("/")
    if ".." in parts:
        return "must not go up a directory ('..')"
    if any(part in ("", ".") for part in parts):
        return "must be normalised: no empty or '.' parts (no '//', './' or trailing '/')"
    if "\0" in path:
        return "must not hold a NUL character"
    if parts[0].startswith(".onpyrunner"):
        return "is a name the sandbox keeps for itself ('.onpyrunner...')"
    if len(path) > MAX_PATH_CHARS:
        return f"is longer than {MAX_PATH_CHARS} characters"
    if any(len(part.encode()) > MAX_PATH_PART_BYTES for part in parts):
        return f"has a part longer than {MAX_PATH_PART_BYTES} bytes"
    return None


def _decoded(content: str, encoding: str) -> bytes | None:
    if encoding == "utf8":
        return content.encode()
    try:
        return base64.b64decode(content, validate=True)
    except ValueError:
        return None


def _file_errors(body: JobCreate, svc: Services) -> tuple[dict[str, bytes], list[dict[str, Any]]]:
    """The request's files decoded (path -> bytes), and their problems: paths (relative,
    normalised, no '..'), content, the count and the total size (settings max_files and
    max_files_kb), a path under another file; fetch_files' paths and count; args' size."""
    settings = svc.settings
    errors: list[dict[str, Any]] = []
    files: dict[str, bytes] = {}
    given = body.files or {}
    if len(given) > settings.max_files:
        message = f"has {len(given)} files; the server maximum is {settings.max_files}"
        errors.append(field_error(("body", "files"), message))
    for path, file in given.items():
        problem = path_problem(path)
        if problem is not None:
            errors.append(field_error(("body", "files", path), problem))
            continue
        data = _decoded(file.content, file.encoding)
        if data is None:
            errors.append(field_error(("body", "files", path, "content"), "is not valid base64"))
            continue
        files[path] = data
    errors += _placement_errors(files, body.language)
    total = sum(len(data) for data in files.values())
    most = settings.max_files_kb * 1024
    if total > most:
        message = f"hold {total} bytes in all; the server maximum is {most} bytes"
        errors.append(field_error(("body", "files"), message))
    return files, errors + _fetch_and_args_errors(body, svc)


def _placement_errors(files: dict[str, bytes], language: str) -> list[dict[str, Any]]:
    """Files below a path that is a file (another of the files, or the program's source)."""
    errors: list[dict[str, Any]] = []
    spec = spec_of(language)
    taken = set(files) | ({spec.source_file} if spec is not None else set())
    for path in files:
        parts = path.split("/")
        above = next(
            ("/".join(parts[:d]) for d in range(1, len(parts)) if "/".join(parts[:d]) in taken),
            None,
        )
        if above is not None:
            message = f"is below {above!r}, which is a file, not a directory"
            errors.append(field_error(("body", "files", path), message))
    return errors


def _fetch_and_args_errors(body: JobCreate, svc: Services) -> list[dict[str, Any]]:
    settings = svc.settings
    errors: list[dict[str, Any]] = []
    fetch = body.fetch_files or []
    if len(fetch) > settings.max_fetch_files:
        message = f"names {len(fetch)} files; the server maximum is {settings.max_fetch_files}"
        errors.append(field_error(("body", "fetch_files"), message))
    for i, path in enumerate(fetch):
        problem = path_problem(path)
        if problem is not None:
            errors.append(field_error(("body", "fetch_files", i), f"{path!r} {problem}"))
    if body.fetch_files is not None and body.test_cases is not None:
        message = "is for plain runs only, not test_cases"
        errors.append(field_error(("body", "fetch_files"), message))
    arg_chars = sum(len(arg) + 1 for arg in body.args or ())
    if arg_chars > MAX_ARGS_CHARS:
        errors.append(
            field_error(("body", "args"), f"are longer than the server maximum of {MAX_ARGS_CHARS}")
        )
    return errors


#: Compiler options a request may give, and characters of one.
MAX_COMPILER_OPTIONS = 32
MAX_COMPILER_OPTION_CHARS = 200


def _compiler_option_errors(body: JobCreate) -> list[dict[str, Any]]:
    """Compiler options: for a compiled language, each allowed by its allow-list (data in
    the language catalogue, runtimes.toml)."""
    options = body.compiler_options
    if not options:
        return []
    loc = ("body", "compiler_options")
    spec = spec_of(body.language)
    if spec is None:
        return []  # the language itself is refused
    if spec.compile is None or not spec.compile.options:
        return [field_error(loc, f"{body.language} takes no compiler options")]
    if len(options) > MAX_COMPILER_OPTIONS:
        message = f"has {len(options)} options; the server maximum is {MAX_COMPILER_OPTIONS}"
        return [field_error(loc, message)]
    errors = []
    for i, option in enumerate(options):
        if len(option) > MAX_COMPILER_OPTION_CHARS or not spec.compile.option_allowed(option):
            allowed = " ".join(spec.compile.options)
            message = f"{option[:MAX_COMPILER_OPTION_CHARS]!r} is not allowed for "
            message += f"{body.language}; allowed (regular expressions): {allowed}"
            errors.append(field_error((*loc, i), message))
    return errors


def _performance_errors(
    body: JobCreate, svc: Services, accepted: frozenset[str]
) -> list[dict[str, Any]]:
    """The server's checks of a performance request: it needs test cases, its case indexes
    exist (once each), its repeat is within the server maximum, and its reference's language
    is one the workers offer and its source within max_source_kb."""
    performance = body.performance
    if performance is None:
        return []
    loc = ("body", "performance")
    if body.test_cases is None:
        return [field_error(loc, "needs test_cases: a performance is measured on test cases")]
    if isinstance(body.checker, ProgramChecker) or body.interactor is not None:
        return [
            field_error(
                loc,
                "is measured on jobs judged by a built-in checker, not by a checker program "
                "or an interactor",
            )
        ]
    if not body.test_cases:
        return []  # test_cases: "must hold at least one case" says it
    errors: list[dict[str, Any]] = []
    seen: set[int] = set()
    for i, index in enumerate(performance.cases or []):
        if index >= len(body.test_cases):
            message = f"no test case {index}: the job has {len(body.test_cases)} (0 to "
            message += f"{len(body.test_cases) - 1})"
            errors.append(field_error((*loc, "cases", i), message))
        elif index in seen:
            errors.append(field_error((*loc, "cases", i), f"case {index} is listed twice"))
        seen.add(index)
    most = svc.settings.max_performance_repeat
    if performance.repeat is not None and performance.repeat > most:
        errors.append(
            field_error(
                (*loc, "repeat"),
                f"must be at most {most} (the server maximum)",
                "less_than_equal",
                {"le": most},
            )
        )
    reference = performance.reference
    if reference is not None:
        if reference.language is not None and reference.language not in accepted:
            available = ", ".join(sorted(accepted))
            message = f"unknown language {reference.language!r}; available: {available}"
            errors.append(field_error((*loc, "reference", "language"), message))
        size = len(reference.source_code.encode())
        errors += _over(
            ("performance", "reference", "source_code"), size, svc.settings.max_source_kb * 1024
        )
    return errors


def _performance(body: JobCreate, svc: Services) -> PerformanceRequest | None:
    """The checked performance request, its defaults filled in."""
    performance = body.performance
    if performance is None or body.test_cases is None:
        return None
    given = performance.reference
    reference = None
    if given is not None:
        language = given.language if given.language is not None else body.language
        reference = Reference(language=language, source_code=given.source_code)
    return PerformanceRequest(
        reference=reference,
        cases=performance.cases or list(range(len(body.test_cases))),
        repeat=performance.repeat or svc.settings.default_performance_repeat,
        weights=performance.weights,
    )


def _problem_program_errors(
    body: JobCreate, accepted: frozenset[str], svc: Services
) -> list[dict[str, Any]]:
    """A custom checker's or an interactor's problems: it judges test cases, in a language
    this server has, within the source size."""
    errors: list[dict[str, Any]] = []
    programs: list[tuple[str, ProblemProgram]] = []
    if isinstance(body.checker, ProgramChecker):
        programs.append(("checker", body.checker))
    if body.interactor is not None:
        programs.append(("interactor", body.interactor))
        if "checker" in body.model_fields_set:
            errors.append(
                field_error(
                    ("body", "checker"),
                    "an interactive job is judged by its interactor: leave checker out",
                )
            )
    max_bytes = svc.settings.max_source_kb * 1024
    for field, program in programs:
        if body.test_cases is None:
            errors.append(field_error(("body", field), f"a {field} needs test_cases to judge"))
        if program.language not in accepted:
            errors.append(
                field_error(
                    ("body", field, "language"),
                    f"unknown language {program.language!r}; available: "
                    f"{', '.join(sorted(accepted))}",
                )
            )
        errors += _over((field, "source_code"), len(program.source_code.encode()), max_bytes)
        for name, text in program.files.items():
            errors += _over((field, "files", name), len(text.encode()), max_bytes)
    return errors


def _kind_errors(body: JobCreate) -> list[dict[str, Any]]:
    """function_call and assert cases need a language whose catalogue entry has a harness
    for them, and are judged by it: no checker program, interactor or performance."""
    harnessed = [
        (i, case.kind) for i, case in enumerate(body.test_cases or []) if case.kind != "stdio"
    ]
    if not harnessed:
        return []
    errors: list[dict[str, Any]] = []
    spec = spec_of(body.language)
    kinds = spec.harness.kinds if spec is not None and spec.harness is not None else ()
    for i, kind in harnessed:
        if spec is not None and kind not in kinds:
            offered = [s.id for s in shipped_specs() if s.harness and kind in s.harness.kinds]
            message = f"{kind} cases need a language with a harness for them "
            message += f"({', '.join(sorted(offered))}), not {body.language!r}"
            errors.append(field_error(("body", "test_cases", i, "kind"), message))
            break
    unfit = {
        "checker": isinstance(body.checker, ProgramChecker),
        "interactor": body.interactor is not None,
        "performance": body.performance is not None,
    }
    for field, present in unfit.items():
        if present:
            errors.append(
                field_error(
                    ("body", field),
                    "is for stdio cases only: function_call and assert cases are judged by "
                    "their harness",
                )
            )
    return errors


def _subtask_errors(body: JobCreate, svc: Services) -> list[dict[str, Any]]:
    """Subtasks' problems: they group the job's cases, name earlier subtasks only."""
    if body.subtasks is None:
        return []
    errors: list[dict[str, Any]] = []
    if body.test_cases is None:
        errors.append(field_error(("body", "subtasks"), "subtasks need test_cases to group"))
    if body.stop_on_first_failure:
        errors.append(
            field_error(
                ("body", "stop_on_first_failure"),
                "cannot be combined with subtasks (a subtask skips its own cases after its "
                "first failure)",
            )
        )
    if len(body.subtasks) > svc.settings.max_test_cases:
        errors.append(
            field_error(
                ("body", "subtasks"),
                f"has {len(body.subtasks)} subtasks; the server maximum is "
                f"{svc.settings.max_test_cases} (max_test_cases)",
            )
        )
    total = len(body.test_cases or [])
    earlier: list[str] = []
    for i, subtask in enumerate(body.subtasks):
        if subtask.name in earlier:
            errors.append(field_error(("body", "subtasks", i, "name"), "is used twice"))
        for j, index in enumerate(subtask.cases):
            if index >= total:
                errors.append(
                    field_error(
                        ("body", "subtasks", i, "cases", j),
                        f"{index} is not a case: the job has {total} (indexes 0 to {total - 1})",
                    )
                )
            elif index in subtask.cases[:j]:
                errors.append(
                    field_error(("body", "subtasks", i, "cases", j), f"{index} is listed twice")
                )
        for k, name in enumerate(subtask.depends_on):
            if name not in earlier:
                known = ", ".join(repr(n) for n in earlier) or "none"
                errors.append(
                    field_error(
                        ("body", "subtasks", i, "depends_on", k),
                        f"{name!r} is not an earlier subtask (earlier ones: {known})",
                    )
                )
        earlier.append(subtask.name)
    return errors


async def _with_test_set(
    body: JobCreate, svc: Services, test_sets: dict[str, list[TestCase]] | None = None
) -> tuple[JobCreate, list[dict[str, Any]]]:
    """The body with its test set's cases as its test_cases, for the checks that need
    them (the job itself keeps only the id); or the errors of a test set that is not
    there. A job that uses a set renews its TTL. test_sets: sets already read (by the
    other jobs of a batch), added to.

    Raises:
        BackendUnavailableError: the store is down.
    """
    if body.test_set is None:
        return body, []
    if body.test_cases is not None:
        message = "give test_cases or test_set, not both"
        return body, [field_error(("body", "test_set"), message)]
    cases = (test_sets or {}).get(body.test_set)
    if cases is None:
        data = await svc.store.get_test_set(body.test_set, svc.settings.test_set_ttl_s)
        if data is None:
            message = "unknown or expired test set: store it again with POST /test-sets"
            return body, [field_error(("body", "test_set"), message)]
        cases = testsets.decode(data)
        if test_sets is not None:
            test_sets[body.test_set] = cases
    return body.model_copy(update={"test_cases": cases}), []


def _resolved(
    svc: Services, requested: LimitsIn | None, interactive: bool = False, for_compile: bool = False
) -> tuple[Limits | None, list[dict[str, Any]]]:
    """A request's limits, or its compile's (`compile_limits`), resolved by the one
    resolution (LimitTable.resolve); or the problems, each naming its field and limit."""
    field = "compile_limits" if for_compile else "limits"
    asked = requested.model_dump() if requested is not None else {}
    try:
        resolved = svc.limits.resolve(asked, interactive=interactive, for_compile=for_compile)
    except LimitsError as e:
        errors = []
        for p in e.problems:
            bound = {"le" if p.kind == "less_than_equal" else "ge": p.bound}
            errors.append(field_error(("body", field, p.name), p.message, p.kind, bound))
        return None, errors
    return resolved, []


async def job_request(
    body: JobCreate, svc: Services, test_sets: dict[str, list[TestCase]] | None = None
) -> JobRequest:
    """The request with this server's checks done and its limits resolved.

    Raises:
        RequestValidationError: a value over a server maximum, or an unknown language;
            each error names its field.
    """
    body, test_set_errors = await _with_test_set(body, svc, test_sets)
    errors = test_set_errors + _size_errors(body, svc)
    files, file_errors = _file_errors(body, svc)
    errors += file_errors
    accepted = await svc.accepted_languages()
    errors += _performance_errors(body, svc, accepted)
    if body.language not in accepted:
        errors.insert(
            0,
            field_error(
                ("body", "language"),
                f"unknown language {body.language!r}; available: {', '.join(sorted(accepted))}",
            ),
        )
    errors += _problem_program_errors(body, accepted, svc)
    errors += _subtask_errors(body, svc)
    errors += _kind_errors(body)
    errors += _compiler_option_errors(body)
    limits, limit_errors = _resolved(svc, body.limits, interactive=body.interactive)
    compile_limits, compile_errors = _resolved(svc, body.compile_limits, for_compile=True)
    errors += limit_errors + compile_errors
    if errors:
        raise RequestValidationError(errors)
    assert limits is not None and compile_limits is not None
    return JobRequest(
        language=body.language,
        source_code=body.source_code,
        stdin=body.stdin,
        limits=limits,
        compile_limits=compile_limits,
        # a stored test set stays in the store: the workers read it by its id
        test_cases=body.test_cases if body.test_set is None else None,
        test_set=body.test_set,
        checker=body.checker,
        stop_on_first_failure=body.stop_on_first_failure,
        interactive=body.interactive,
        stream=body.stream,
        interleave_output=body.interleave_output,
        files={path: base64.b64encode(data).decode() for path, data in files.items()},
        args=body.args or [],
        compiler_options=body.compiler_options or [],
        fetch_files=body.fetch_files or [],
        performance=_performance(body, svc),
        interactor=body.interactor,
        subtasks=body.subtasks,
    )


async def submit(svc: Services, request: JobRequest, origin: Origin = NATIVE) -> Job:
    """Queue a job; the new PENDING job.

    Raises:
        QueueFullError: the queue holds its maximum of unfinished jobs.
        BackendUnavailableError: the queue backend is down.
    """
    job = _new_job(svc, request, origin)
    await svc.store.submit(job, request)
    svc.metrics.submitted.inc()
    return job


async def submit_and_wait(
    svc: Services,
    request: JobRequest,
    wait_s: float,
    origin: Origin = NATIVE,
    submitted: Callable[[Job], None] | None = None,
) -> Job:
    """Queue a job and wait for it: the job once it finished, or as it is after wait_s.

    Args:
        submitted: called with the new job once it is queued, before the wait.

    Raises:
        QueueFullError, BackendUnavailableError: as submit.
        JobNotFoundError: the job was deleted (or expired) while waited for.
    """
    job = _new_job(svc, request, origin)
    async with waiting.follow(svc.store, job.id) as follower:  # before: no change is missed
        await svc.store.submit(job, request)
        svc.metrics.submitted.inc()
        if submitted is not None:
            submitted(job)
        current = await follower.until_done(wait_s, current=job)
    if current is None:
        raise JobNotFoundError(job.id)
    return current


def sync_wait_s(svc: Services, request: JobRequest) -> float:
    """How long a synchronous call (SandboxFusion's /run_code, Piston's /execute, the MCP
    tools) waits for its job before it gives up on it (the job goes on): the job's own wall
    limit (a judge job's max_judge_wall_s), its compile's (a compiled language), and
    sync_wait_margin_s for the queue."""
    spec = spec_of(request.language)
    compile_s = 0.0
    if spec is not None and spec.compile is not None:
        compiling = request.compile_limits or svc.limits.compile
        compile_s = compiling.wall_time_ms / 1000
    run_s = request.limits.wall_time_ms / 1000
    if request.test_cases is not None or request.test_set is not None:
        run_s = svc.settings.max_judge_wall_s
    return run_s + compile_s + svc.settings.sync_wait_margin_s


async def submit_many(svc: Services, requests: list[tuple[JobRequest, Origin]]) -> list[Job]:
    """Queue several jobs at once: all of them, or (queue full) none.

    Raises:
        QueueFullError: the queue cannot take them all.
        BackendUnavailableError: the queue backend is down.
    """
    jobs = [_new_job(svc, request, origin) for request, origin in requests]
    await svc.store.submit_many(list(zip(jobs, (r for r, _ in requests), strict=True)))
    svc.metrics.submitted.inc(len(jobs))
    return jobs
