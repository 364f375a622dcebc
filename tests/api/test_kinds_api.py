"""function_call and assert cases and the livecodebench checker through the HTTP API, on
both backends."""

from __future__ import annotations

from typing import Any

import pytest

from tests.service import Server

pytestmark = pytest.mark.sandbox

SOURCE = "def add(a, b):\n    return a + b\n"
FN = {"kind": "function_call", "fn_name": "add", "args": [1, 2], "expected": 3}
ASSERT = {"kind": "assert", "test_code": "assert add(2, 2) == 4\n"}


def body(cases: list[dict[str, Any]], **changes: Any) -> dict[str, Any]:
    return {"source_code": SOURCE, "test_cases": cases, **changes}


def test_function_call_and_assert_cases_are_judged(api: Server) -> None:
    hidden = {
        "kind": "assert",
        "test_code": "assert add(1, 1) == 'SECRET-TEST-CODE'\n",
        "hidden": True,
    }
    wrong = {**FN, "expected": 4, "name": "wrong"}
    job = api.run(body([FN, ASSERT, wrong, hidden]))
    result = job["result"]
    assert [t["verdict"] for t in result["tests"]] == [
        "ACCEPTED",
        "ACCEPTED",
        "WRONG_ANSWER",
        "WRONG_ANSWER",
    ]
    assert result["tests"][2]["diff"] == "expected 4, got 3"
    assert result["tests"][3] == {
        "name": None,
        "verdict": "WRONG_ANSWER",
        "hidden": True,
        **dict.fromkeys(("outcome", "stdout", "stderr", "exit_code", "signal", "diff")),
        "usage": result["tests"][3]["usage"],
        **dict.fromkeys(("fraction", "message", "transcript")),
    }
    assert "SECRET-TEST-CODE" not in api.http.get(f"/jobs/{job['job_id']}").text


def test_the_livecodebench_checker_compares_numbers_as_decimals(api: Server) -> None:
    cases = [
        {"stdin": "", "expected_stdout": "1 2.50\n3\n"},
        {"stdin": "", "expected_stdout": "1 2.5 x\n3\n"},
    ]
    source = "print('1.0 2.5')\nprint(3e0)\n"
    job = api.run(body(cases, source_code=source, checker="livecodebench"))
    assert [t["verdict"] for t in job["result"]["tests"]] == ["ACCEPTED", "WRONG_ANSWER"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        (
            {"test_cases": [{"kind": "assert"}]},
            "test_cases.0.test_code: Field required (assert cases need it)",
        ),
        (
            {"test_cases": [{**FN, "expected_stdout": "3"}]},
            "test_cases.0.expected_stdout: is not for function_call cases",
        ),
        ({"test_cases": [{**FN, "fn_name": "no such"}]}, "test_cases.0.fn_name"),
        ({"test_cases": [{**FN, "args": 3}]}, "test_cases.0.args"),
        ({"test_cases": [{**FN, "kind": "pytest"}]}, "test_cases.0.kind"),
        ({"language": "c"}, "test_cases.0.kind: function_call cases need a language"),
        (
            {"checker": {"type": "program", "source_code": "pass"}},
            "checker: is for stdio cases only",
        ),
        ({"performance": {}}, "performance"),
        ({"checker": "decimals"}, "checker"),
    ],
)
def test_bad_kind_requests_are_422(api: Server, changes: dict[str, Any], field: str) -> None:
    response = api.submit(body([FN, ASSERT], **changes))
    assert response.status_code == 422, response.text
    assert response.json()["error"].startswith(field), response.json()["error"]


def test_test_code_over_the_stdin_cap_is_422(api: Server) -> None:
    huge = {"kind": "assert", "test_code": "#" * (4096 * 1024 + 1)}
    response = api.submit(body([huge]))
    assert response.status_code == 422
    assert response.json()["error"].startswith("test_cases.0.test_code: is larger")
