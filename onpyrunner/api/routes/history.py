"""The execution history: the jobs that ended, one by one, and the statistics."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel

from onpyrunner.api.errors import ErrorResponses, field_error
from onpyrunner.api.services import Services, services_dependency
from onpyrunner.errors import JobNotFoundError
from onpyrunner.history import queries
from onpyrunner.history.records import Entry
from onpyrunner.models import JobStatus, Outcome, Verdict

router = APIRouter(tags=["history"])
Deps = Annotated[Services, Depends(services_dependency)]

#: What the outcome filter takes: a run's outcome or a judge job's verdict.
OUTCOMES = sorted({o.value for o in Outcome} | {v.value for v in Verdict})
DEFAULT_LIMIT = 50
MAX_LIMIT = 500
DEFAULT_SPAN = timedelta(hours=24)
#: Bucket sizes /stats picks from when none is given: the smallest with at most
#: AUTO_BUCKETS buckets in the span. From an hour up they are whole hours: the hourly
#: roll-ups answer them (a day is 24 roll-up periods, not 1,440).
AUTO_BUCKET_SIZES_S = (60, 300, 3600, 6 * 3600, 86400, 7 * 86400)
AUTO_BUCKETS = 200
MAX_BUCKETS = 5000
_DURATION = re.compile(r"^(\d{1,9})([smhd]?)$")
#: What a name filter (language, api, token id) or a job id may hold: anything else names
#: nothing the history has.
_NAME = re.compile(r"^[A-Za-z0-9._:+-]{1,64}$")
#: Times /history and /stats take: the epoch to a year far ahead.
_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST = datetime(9000, 1, 1, tzinfo=UTC)
MAX_BUCKET_S = 366 * 86400
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


class HistoryPage(BaseModel):
    """GET /history: entries newest first; `next_cursor` fetches the page after, null on
    the last page."""

    entries: list[Entry]
    next_cursor: str | None


def _problem(name: str, message: str) -> RequestValidationError:
    return RequestValidationError([field_error(("query", name), message)])


def _when(name: str, raw: str | None) -> datetime | None:
    if raw is None or raw == "":
        return None
    try:
        at = datetime.fromisoformat(raw.replace("Z", "+00:00").replace(" ", "+"))
    except ValueError:
        raise _problem(
            name, "must be an ISO 8601 date and time, e.g. 2026-11-29T12:00:00Z"
        ) from None
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    if not _EARLIEST <= at < _LATEST:
        raise _problem(name, "must be between 1970 and 9000")
    return at


def _name(name: str, value: str | None) -> str | None:
    if value is not None and not _NAME.match(value):
        raise _problem(name, "must be 1 to 64 letters, digits or ._:+-")
    return value


def _choice(name: str, value: str | None, allowed: list[str]) -> str | None:
    if value is not None and value not in allowed:
        raise _problem(name, f"must be one of {', '.join(allowed)}")
    return value


Since = Annotated[str | None, Query(description="ended at or after (ISO 8601; no zone = UTC)")]
Until = Annotated[str | None, Query(description="ended before (ISO 8601; no zone = UTC)")]


@router.get(
    "/history",
    response_model=HistoryPage,
    response_model_exclude={"entries": {"__all__": {"content"}}},
    responses=ErrorResponses.history,
)
async def list_history(
    svc: Deps,
    status: Annotated[str | None, Query(description="COMPLETED, FAILED or CANCELLED")] = None,
    outcome: Annotated[str | None, Query(description="a run's outcome or a judge verdict")] = None,
    language: str | None = None,
    api: Annotated[str | None, Query(description="native, judge0, ...")] = None,
    token_id: Annotated[str | None, Query(description="the id of an access token")] = None,
    since: Since = None,
    until: Until = None,
    cursor: Annotated[str | None, Query(description="next_cursor of the page before")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> HistoryPage:
    """The jobs that ended, newest first, filtered; a page at a time (keyset pagination)."""
    store = svc.history_store()
    filters = queries.Filters(
        status=_choice("status", status, [s.value for s in JobStatus]),
        outcome=_choice("outcome", outcome, OUTCOMES),
        language=_name("language", language),
        api=_name("api", api),
        token_id=_name("token_id", token_id),
        since=_when("since", since),
        until=_when("until", until),
    )
    try:
        found = await queries.page(store, filters, limit, cursor)
    except queries.CursorError as e:
        raise _problem("cursor", str(e)) from e
    return HistoryPage(entries=found.entries, next_cursor=found.next_cursor)


@router.get("/history/{job_id}", response_model=Entry, responses=ErrorResponses.history)
async def get_history(job_id: str, svc: Deps) -> Entry:
    """One job as the history keeps it, with its texts when the server keeps them."""
    store = svc.history_store()
    entry = await store.get(job_id) if _NAME.match(job_id) else None
    if entry is None:
        raise JobNotFoundError(job_id)
    return entry


def _bucket_s(raw: str | None, since: datetime, until: datetime) -> int:
    if raw is None or raw == "":
        span_s = (until - since).total_seconds()
        return next(
            (s for s in AUTO_BUCKET_SIZES_S if span_s / s <= AUTO_BUCKETS), AUTO_BUCKET_SIZES_S[-1]
        )
    match = _DURATION.match(raw.strip())
    seconds = int(match.group(1)) * _UNITS[match.group(2)] if match else 0
    if seconds <= 0 or seconds % 60 or seconds > MAX_BUCKET_S:
        raise _problem(
            "bucket", "must be a whole number of minutes up to 366 days: 60, 300, 1m, 5m, 1h, 1d"
        )
    return seconds


@router.get("/stats", response_model=queries.Stats, responses=ErrorResponses.history)
async def stats(
    svc: Deps,
    since: Annotated[
        str | None, Query(description="from (ISO 8601); default: until - 24 h")
    ] = None,
    until: Annotated[str | None, Query(description="to (ISO 8601); default: now")] = None,
    bucket: Annotated[
        str | None,
        Query(
            description="bucket size: seconds (a multiple of 60) or 5m, 1h, 1d; default: "
            "the span in at most 200 buckets"
        ),
    ] = None,
) -> queries.Stats:
    """Jobs per outcome and per language, and p50/p95/p99 of queue wait, run time and end-
    to-end time, per time bucket and in all; by when jobs ended, to the minute."""
    store = svc.history_store()
    end = _when("until", until) or datetime.now(UTC)
    start = _when("since", since) or end - DEFAULT_SPAN
    if start >= end:
        raise _problem("since", "must be before until")
    bucket_s = _bucket_s(bucket, start, end)
    lo, hi = queries.span(start, end, bucket_s)
    if (hi - lo) // bucket_s > MAX_BUCKETS:
        raise _problem("bucket", f"makes more than {MAX_BUCKETS} buckets: choose a larger one")
    return await queries.stats(store, start, end, bucket_s)
