"""Judge jobs through the HTTP API and the WebSocket, on both backends."""

from __future__ import annotations

import json

import pytest

from tests.service import Server

pytestmark = pytest.mark.sandbox

SECRETS = ("SECRET-STDIN", "SECRET-EXPECTED", "SECRET-OUTPUT")


def judge_body(**changes: object) -> dict[str, object]:
    body: dict[str, object] = {
        "source_code": "x = input()\nprint('SECRET-OUTPUT' if x.startswith('SECRET') else x)\n",
        "test_cases": [
            {"stdin": "a\n", "expected_stdout": "a\n", "name": "open-1"},
            {
                "stdin": "SECRET-STDIN\n",
                "expected_stdout": "SECRET-EXPECTED\n",
                "hidden": True,
                "name": "hidden",
            },
            {"stdin": "b\n", "expected_stdout": "c\n", "name": "open-wrong", "points": 2},
        ],
    }
    body.update(changes)
    return body


def test_judge_job_result_and_hidden_cases_never_leak(api: Server) -> None:
    job_id = api.submit(judge_body()).json()["job_id"]
    messages = api.events(job_id)
    final = messages[-1]
    assert final["status"] == "COMPLETED"
    result = final["result"]
    assert result["verdict"] == "WRONG_ANSWER"  # the hidden case fails first
    assert (result["passed"], result["total"], result["score"]) == (1, 3, 25.0)
    assert [t["verdict"] for t in result["tests"]] == ["ACCEPTED", "WRONG_ANSWER", "WRONG_ANSWER"]
    hidden = result["tests"][1]
    assert hidden["hidden"] is True
    assert hidden["stdout"] is None and hidden["diff"] is None and hidden["outcome"] is None
    assert result["tests"][2]["diff"] == "line 1: expected 'c', got 'b'"
    for text in [json.dumps(m) for m in messages] + [api.http.get(f"/jobs/{job_id}").text]:
        for secret in SECRETS:
            assert secret not in text


def test_websocket_reports_progress_after_each_case(api: Server) -> None:
    cases = [{"stdin": f"{i}\n", "expected_stdout": f"{i}\n"} for i in range(6)]
    job_id = api.submit({"source_code": "print(input())", "test_cases": cases}).json()["job_id"]
    messages = api.events(job_id)
    progress = [m["progress"]["done"] for m in messages if m["progress"]]
    assert progress == sorted(progress)
    assert progress[-1] == 6
    assert all(m["progress"]["total"] == 6 for m in messages if m["progress"])
    running_with_progress = [m for m in messages if m["status"] == "RUNNING" and m["progress"]]
    assert running_with_progress  # progress arrives while it runs, not only at the end
    assert messages[-1]["result"]["verdict"] == "ACCEPTED"


def test_float_checker_and_stop_on_first_failure_through_the_api(api: Server) -> None:
    body = {
        "source_code": "print(1 / 3)",
        "test_cases": [
            {"expected_stdout": "0.3333333"},
            {"expected_stdout": "0.5"},
            {"expected_stdout": "0.3333333"},
        ],
        "checker": {"type": "float", "abs_tol": 1e-6},
        "stop_on_first_failure": True,
    }
    result = api.run(body)["result"]
    assert [t["verdict"] for t in result["tests"]] == ["ACCEPTED", "WRONG_ANSWER", "SKIPPED"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"checker": "fuzzy"}, "checker"),
        ({"checker": {"type": "regex"}}, "checker"),
        ({"checker": {"type": "float", "abs_tol": -1}}, "checker"),
        ({"test_cases": []}, "test_cases"),
        ({"test_cases": [{"stdin": "1"}]}, "test_cases.0.expected_stdout"),
        ({"test_cases": [{"expected_stdout": "", "points": -1}]}, "test_cases.0.points"),
    ],
)
def test_bad_judge_requests_are_422(api: Server, changes: dict[str, object], field: str) -> None:
    response = api.submit(judge_body(**changes))
    assert response.status_code == 422, response.text
    assert response.json()["error"].startswith(field)


def test_performance_through_the_api_counts_its_runs_in_the_progress(api: Server) -> None:
    cases = [{"stdin": f"{i}\n", "expected_stdout": f"{2 * i}\n"} for i in range(3)]
    body = {
        "source_code": "print(int(input()) * 2)",
        "test_cases": cases,
        "performance": {
            "reference": {"source_code": "n = int(input())\nprint(n + n)"},
            "cases": [2, 0],
            "repeat": 2,
        },
    }
    job_id = api.submit(body).json()["job_id"]
    messages = api.events(job_id)
    total = 3 + 2 * 2 * 2  # the cases, then 2 measured cases x 2 repeats x 2 programs
    done = [m["progress"]["done"] for m in messages if m["progress"]]
    assert done == sorted(done) and done[-1] == total
    assert all(m["progress"]["total"] == total for m in messages if m["progress"])
    result = messages[-1]["result"]
    assert result["verdict"] == "ACCEPTED"
    assert 0 < result["performance_score"] < 100
    performance = result["performance"]
    assert performance["basis"] == "REFERENCE"
    assert (performance["repeat"], performance["reason"]) == (2, None)
    assert performance["weights"] == {"cpu_time": 0.75, "memory": 0.25}
    assert [c["case"] for c in performance["cases"]] == [2, 0]
    low, high = performance["score_range"]
    assert low <= result["performance_score"] <= high
    for measured in performance["cases"]:
        assert measured["runs"] == 2
        assert measured["submission"]["cpu_time_ms"] > 0
        assert measured["baseline"]["memory_kb"] > 0
    assert api.http.get(f"/jobs/{job_id}").json() == messages[-1]


def test_a_wrong_submission_has_a_null_performance_score_through_the_api(api: Server) -> None:
    body = {
        "source_code": "print(int(input()) * 3)",
        "test_cases": [{"stdin": "2\n", "expected_stdout": "4\n", "hidden": True}],
        "performance": {"repeat": 1},
    }
    result = api.run(body)["result"]
    assert result["performance_score"] is None
    assert result["performance"]["basis"] == "LIMITS"
    assert result["performance"]["reason"] == "SUBMISSION_FAILED"
    assert result["performance"]["detail"] == "the submission on case 0: WRONG_ANSWER"
