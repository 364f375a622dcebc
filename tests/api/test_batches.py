"""Batches through the HTTP API and the WebSocket, on both backends."""

from __future__ import annotations

import json
from typing import Any

import pytest
from websockets.sync.client import connect

from tests.service import Server

pytestmark = pytest.mark.sandbox

CASES = [
    {"kind": "function_call", "fn_name": "double", "args": [i], "expected": 2 * i} for i in range(4)
]
SAMPLES = {
    "right": "def double(x):\n    return 2 * x\n",
    "wrong": "def double(x):\n    return x + 2\n",  # right for 2 only: case 0 fails first
    "crash": "def double(x):\n    raise ValueError(x)\n",
}


def _batch(api: Server, **changes: Any) -> dict[str, Any]:
    set_id = api.http.post("/test-sets", json={"test_cases": CASES}).json()["id"]
    body = {
        "test_set": set_id,
        "submissions": [{"source_code": source} for source in SAMPLES.values()],
        **changes,
    }
    response = api.http.post("/batches", json=body)
    assert response.status_code == 202, response.text
    answer: dict[str, Any] = response.json()
    assert response.headers["location"] == f"/batches/{answer['batch_id']}"
    return answer


def test_a_batch_is_judged_against_its_test_set_with_early_stop(api: Server) -> None:
    batch = _batch(api)
    assert len(batch["job_ids"]) == 3
    answer = api.http.get(f"/batches/{batch['batch_id']}", params={"wait": "true"}).json()
    jobs = {job["job_id"]: job for job in answer["jobs"]}
    right, wrong, crash = (jobs[i] for i in batch["job_ids"])
    assert right["error"] is None, right["error"]
    assert (right["status"], right["verdict"], right["passed"], right["total"]) == (
        "COMPLETED",
        "ACCEPTED",
        4,
        4,
    )
    assert (wrong["verdict"], wrong["passed"], wrong["score"]) == ("WRONG_ANSWER", 0, 0.0)
    assert crash["verdict"] == "RUNTIME_ERROR"
    wrong_job = api.http.get(f"/jobs/{wrong['job_id']}").json()
    assert [t["verdict"] for t in wrong_job["result"]["tests"]][1:] == ["SKIPPED"] * 3
    totals = answer["totals"]
    assert totals["done"] is True and totals["finished"] == totals["jobs"] == 3
    assert totals["verdicts"] == {"ACCEPTED": 1, "WRONG_ANSWER": 1, "RUNTIME_ERROR": 1}
    assert (totals["accepted"], totals["passed"], totals["total"]) == (1, 4, 12)


def test_early_stop_can_be_turned_off_for_the_batch(api: Server) -> None:
    batch = _batch(api, stop_on_first_failure=False)
    answer = api.http.get(f"/batches/{batch['batch_id']}", params={"wait": "true"}).json()
    wrong = answer["jobs"][1]
    assert (wrong["passed"], wrong["total"]) == (1, 4)  # x + 2 == 2 * x for x = 2


def test_the_events_websocket_sends_each_job_as_it_ends_then_the_totals(api: Server) -> None:
    batch = _batch(api)
    url = api.url.replace("http", "ws") + f"/batches/{batch['batch_id']}/events"
    messages: list[dict[str, Any]] = []
    with connect(url, open_timeout=10) as ws:
        for _ in range(4):
            messages.append(json.loads(ws.recv(timeout=60)))
    jobs, totals = messages[:3], messages[3]
    assert [m["type"] for m in jobs] == ["job"] * 3
    assert sorted(m["job_id"] for m in jobs) == sorted(batch["job_ids"])
    assert all(m["status"] == "COMPLETED" for m in jobs)
    assert totals["type"] == "totals" and totals["done"] is True and totals["accepted"] == 1


def test_an_unknown_batch_is_404(api: Server) -> None:
    response = api.http.get("/batches/no-such-batch")
    assert response.status_code == 404
    assert response.json()["error"] == "batch no-such-batch not found (unknown or expired)"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"submissions": []}, "submissions"),
        ({"submissions": [{"source_code": "print(1)"}] * 1001}, "submissions: has 1001 jobs"),
        (
            {"submissions": [{"source_code": "1"}, {"source_code": "1", "language": "cobol"}]},
            "submissions.1.language: unknown language 'cobol'",
        ),
        (
            {"submissions": [{"source_code": "1"}], "test_set": "sha256:" + "0" * 64},
            "submissions.0.test_set: unknown or expired test set",
        ),
        (
            {"submissions": [{"source_code": "1", "interactive": True}]},
            "submissions.0: a batch has no live sessions",
        ),
    ],
)
def test_bad_batches_are_422_naming_the_submission(
    api: Server, body: dict[str, Any], message: str
) -> None:
    response = api.http.post("/batches", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"].startswith(message), response.json()["error"]
