"""Test sets through the HTTP API, on both backends: stored once by content, named by jobs."""

from __future__ import annotations

import pytest

from tests.api.conftest import custom_server
from tests.service import Server

pytestmark = pytest.mark.sandbox

CASES: list[dict[str, object]] = [
    {"stdin": "1\n", "expected_stdout": "2\n"},
    {"kind": "function_call", "fn_name": "double", "args": [4], "expected": 8, "hidden": True},
]
SOURCE = (
    "def double(x):\n    return 2 * x\n"
    "if __name__ == '__main__':\n    print(double(int(input())))\n"
)


def test_the_same_cases_get_the_same_id_however_written(api: Server) -> None:
    first = api.http.post("/test-sets", json={"test_cases": CASES})
    assert first.status_code == 201, first.text
    answer = first.json()
    assert answer["id"].startswith("sha256:") and len(answer["id"]) == 7 + 64
    assert answer["cases"] == 2
    spelled_out = [{**CASES[0], "kind": "stdio", "points": 1.0, "hidden": False}, CASES[1]]
    again = api.http.post("/test-sets", json={"test_cases": spelled_out}).json()
    assert again["id"] == answer["id"]
    other = api.http.post("/test-sets", json={"test_cases": CASES[:1]}).json()
    assert other["id"] != answer["id"]


def test_a_job_naming_a_test_set_is_judged_with_its_cases(api: Server) -> None:
    set_id = api.http.post("/test-sets", json={"test_cases": CASES}).json()["id"]
    job = api.run({"source_code": SOURCE, "test_set": set_id})
    result = job["result"]
    assert (result["verdict"], result["passed"], result["total"]) == ("ACCEPTED", 2, 2)
    wrong = api.run({"source_code": SOURCE.replace("2 * x", "3 * x"), "test_set": set_id})
    assert [t["verdict"] for t in wrong["result"]["tests"]] == ["WRONG_ANSWER"] * 2


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"test_set": "sha256:" + "0" * 64}, "test_set: unknown or expired test set"),
        ({"test_set": "sha256:xyz"}, "test_set"),
        ({"test_set": "SET", "test_cases": CASES}, "test_set: give test_cases or test_set"),
    ],
)
def test_bad_test_set_references_are_422(
    api: Server, body: dict[str, object], message: str
) -> None:
    if body.get("test_set") == "SET":
        body = {
            **body,
            "test_set": api.http.post("/test-sets", json={"test_cases": CASES}).json()["id"],
        }
    response = api.submit({"source_code": SOURCE, **body})
    assert response.status_code == 422, response.text
    assert response.json()["error"].startswith(message), response.json()["error"]


@pytest.mark.parametrize(
    ("cases", "message"),
    [
        ([], "test_cases"),
        ([{"stdin": "1"}], "test_cases.0.expected_stdout: Field required"),
        ([{"stdin": "", "expected_stdout": ""}] * 101, "test_cases: has 101 cases"),
    ],
)
def test_bad_test_sets_are_422(api: Server, cases: list[object], message: str) -> None:
    response = api.http.post("/test-sets", json={"test_cases": cases})
    assert response.status_code == 422, response.text
    assert response.json()["error"].startswith(message), response.json()["error"]


def test_a_test_set_over_its_size_cap_is_422() -> None:
    with custom_server("memory", 1, max_test_set_kb="1") as api:
        small = api.http.post("/test-sets", json={"test_cases": CASES})
        assert small.status_code == 201, small.text
        big = [{"stdin": "x" * 2000, "expected_stdout": ""}]
        response = api.http.post("/test-sets", json={"test_cases": big})
        assert response.status_code == 422
        assert response.json()["error"].startswith(
            "test_cases: are larger than the server maximum of 1024 bytes"
        )
