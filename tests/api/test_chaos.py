"""The chaos benchmark, short: a few hundred hostile and benign jobs under load on each
backend (bench/chaos.py); none FAILED, none with a wrong outcome, none lost. And how the
benchmark tells a bad job from a good one."""

from __future__ import annotations

from typing import Any

import pytest

from bench.chaos import CATALOGUE, BadJob, JobRecord, classify, draw, run_backend

JOBS = 200
SEED = 20261122


@pytest.mark.sandbox
@pytest.mark.parametrize("backend", ["memory", "redis"])
def test_hostile_mix_under_load_has_no_failed_wrong_or_lost_job(backend: str) -> None:
    report = run_backend(backend, jobs=JOBS, clients=6, seed=SEED)
    assert report.skipped == []  # every language of the catalogue is installed here
    assert report.sent == JOBS
    sent = {record.case.name for record in report.records}
    assert sent == {case.name for case in CATALOGUE}  # every case ran at least once
    bad = "bad jobs:\n" + "\n".join(str(b) for b in report.bad)
    assert report.failed == [], bad
    assert report.wrong == [], bad
    assert report.lost == [], bad
    assert report.request_errors == [], bad
    if backend == "redis":
        assert report.killed_at_s is not None  # a worker was SIGKILLed halfway


def test_the_draw_is_seeded_and_holds_every_case() -> None:
    first = draw(CATALOGUE, 200, seed=3)
    assert first == draw(CATALOGUE, 200, seed=3)
    assert {c.name for c in first} == {c.name for c in CATALOGUE}


SIGSEGV_CASE = next(c for c in CATALOGUE if c.name == "ctypes_null")
CRASHED = {"outcome": "RUNTIME_ERROR", "exit_code": None, "signal": 11, "stderr": ""}


def job(status: str, result: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {"job_id": "j1", "status": status, "result": result, "attempts": 1, **extra}


def fault(seen: dict[str, Any] | None, stored: dict[str, Any] | None) -> BadJob | None:
    return classify(JobRecord(SIGSEGV_CASE, "j1", 0.01, seen=seen, stored=stored))


def test_a_job_with_its_expected_outcome_is_good() -> None:
    assert fault(job("COMPLETED", CRASHED), job("COMPLETED", CRASHED)) is None


def test_each_kind_of_bad_job_says_what_was_seen() -> None:
    failed = fault(None, job("FAILED", error="the sandbox could not start"))
    assert failed == BadJob(
        "FAILED", "ctypes_null", "j1", "the sandbox could not start", "attempts 1"
    )
    wrong = fault(None, job("COMPLETED", {**CRASHED, "outcome": "TIME_LIMIT_EXCEEDED"}))
    assert wrong is not None and wrong.kind == "wrong"
    assert wrong.seen == "outcome: expected 'RUNTIME_ERROR', got 'TIME_LIMIT_EXCEEDED'"
    lost = fault(job("RUNNING"), job("RUNNING", watch_error="TimeoutError()"))
    assert lost is not None and (lost.kind, lost.seen) == ("lost", "last status RUNNING")
    changed = fault(job("COMPLETED", CRASHED), job("FAILED", error="delivered 3 times"))
    assert changed is not None and changed.kind == "FAILED"
    rewritten = fault(job("COMPLETED", CRASHED), job("COMPLETED", {**CRASHED, "signal": 9}))
    assert rewritten is not None and rewritten.kind == "wrong"
    assert "after the client saw" in rewritten.seen
