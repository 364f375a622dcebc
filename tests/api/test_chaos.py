"""The chaos benchmark, short: a few hundred hostile and benign jobs under load on each
backend (bench/chaos.py); none FAILED, none with a wrong outcome, none lost."""

from __future__ import annotations

import pytest

from bench.chaos import CATALOGUE, run_backend

pytestmark = pytest.mark.sandbox

JOBS = 300
SEED = 20261122


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
