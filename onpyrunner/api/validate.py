"""From a parsed JobCreate to a JobRequest the workers can trust: server limits applied.

Everything that depends on settings or on the live workers is checked here; shape and
types were checked by pydantic. Every problem names its field, as FastAPI's own 422 does.
"""

from __future__ import annotations

from typing import Any

from fastapi.exceptions import RequestValidationError

from onpyrunner.api.errors import field_error
from onpyrunner.api.schemas import JobCreate
from onpyrunner.models import JobRequest, Limits
from onpyrunner.queue.store import LanguageInfo
from onpyrunner.sandbox.runtimes import shipped_specs
from onpyrunner.settings import Settings


def _size_errors(body: JobCreate, settings: Settings) -> list[dict[str, Any]]:
    errors = []
    max_source = settings.max_source_kb * 1024
    if len(body.source_code.encode()) > max_source:
        errors.append(
            field_error(
                ("body", "source_code"), f"is larger than the server maximum of {max_source} bytes"
            )
        )
    max_stdin = settings.max_stdin_kb * 1024
    if len(body.stdin.encode()) > max_stdin:
        errors.append(
            field_error(
                ("body", "stdin"), f"is larger than the server maximum of {max_stdin} bytes"
            )
        )
    cases = body.test_cases or []
    if len(cases) > settings.max_test_cases:
        errors.append(
            field_error(
                ("body", "test_cases"),
                f"has {len(cases)} cases; the server maximum is {settings.max_test_cases}",
            )
        )
    for i, case in enumerate(cases):
        if len(case.stdin.encode()) > max_stdin:
            errors.append(
                field_error(
                    ("body", "test_cases", i, "stdin"),
                    f"is larger than the server maximum of {max_stdin} bytes",
                )
            )
    if body.test_cases is not None and not body.test_cases:
        errors.append(field_error(("body", "test_cases"), "must hold at least one case"))
    return errors


def _limits(body: JobCreate, settings: Settings) -> tuple[Limits | None, list[dict[str, Any]]]:
    chosen = settings.default_limits().model_dump()
    errors = []
    requested = body.limits.model_dump(exclude_none=True) if body.limits else {}
    for name, maximum in settings.limit_maximums().items():
        if name in requested:
            if requested[name] > maximum:
                errors.append(
                    field_error(
                        ("body", "limits", name),
                        f"must be at most {maximum} (the server maximum)",
                        "less_than_equal",
                    )
                )
            chosen[name] = requested[name]
    return (None if errors else Limits(**chosen)), errors


def _language_error(language: str, languages: list[LanguageInfo]) -> dict[str, Any] | None:
    known = sorted(lang.id for lang in languages)
    if not known:  # no worker is up: accept what any worker could offer; the job waits
        known = sorted(spec.id for spec in shipped_specs())
        if language in known:
            return None
    elif language in known:
        return None
    return field_error(
        ("body", "language"), f"unknown language {language!r}; available: {', '.join(known)}"
    )


def resolve(body: JobCreate, settings: Settings, languages: list[LanguageInfo]) -> JobRequest:
    """The request with limits resolved.

    Raises:
        RequestValidationError: a value is over a server maximum or names an unknown
            language; each error names its field.
    """
    errors = _size_errors(body, settings)
    language_error = _language_error(body.language, languages)
    if language_error is not None:
        errors.insert(0, language_error)
    limits, limit_errors = _limits(body, settings)
    errors += limit_errors
    if errors or limits is None:
        raise RequestValidationError(errors)
    return JobRequest(
        language=body.language,
        source_code=body.source_code,
        stdin=body.stdin,
        limits=limits,
        test_cases=body.test_cases,
        checker=body.checker,
        stop_on_first_failure=body.stop_on_first_failure,
    )
