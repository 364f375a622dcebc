"""A judge job's performance request on the native path: every check is a 422 naming its
field, and what passes is resolved (cases, repeat, the reference's language). In-process,
no worker: nothing runs."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from onpyrunner.api.schemas import JobCreate
from onpyrunner.api.submit import job_request
from onpyrunner.models import Reference, Weights
from onpyrunner.settings import Settings
from tests.api.inprocess import app_fixtures, services_of

SETTINGS = {"workers": 0, "redis_url": None, "max_wait_s": 0.01, "max_performance_repeat": 7}
SORT = "print(*sorted(map(int, input().split())))\n"


app, client = app_fixtures(Settings.model_validate(SETTINGS))


def body(performance: object, **changes: object) -> dict[str, Any]:
    cases = [{"stdin": "3 1 2\n", "expected_stdout": "1 2 3\n"} for _ in range(3)]
    return {"source_code": SORT, "test_cases": cases, "performance": performance, **changes}


REFERENCE = {"source_code": SORT}


@pytest.mark.parametrize(
    ("sent", "loc", "message"),
    [
        (body({}, test_cases=None), ["performance"], "needs test_cases"),
        (body({"cases": [0]}, test_cases=[]), ["test_cases"], "must hold at least one case"),
        (body({"cases": [0, 3]}), ["performance", "cases", 1], "no test case 3"),
        (body({"cases": [2, 2]}), ["performance", "cases", 1], "case 2 is listed twice"),
        (body({"cases": []}), ["performance", "cases"], "at least 1 item"),
        (body({"cases": [-1]}), ["performance", "cases", 0], "greater than or equal to 0"),
        (body({"cases": ["0"]}), ["performance", "cases", 0], "valid integer"),
        (body({"repeat": 8}), ["performance", "repeat"], "at most 7 (the server maximum)"),
        (body({"repeat": 0}), ["performance", "repeat"], "greater than or equal to 1"),
        (body({"repeat": 2.0}), ["performance", "repeat"], "valid integer"),
        (
            body({"reference": {"language": "cobol", "source_code": SORT}}),
            ["performance", "reference", "language"],
            "unknown language 'cobol'; available: ",
        ),
        (
            body({"reference": {"source_code": "x" * (256 * 1024 + 1)}}),
            ["performance", "reference", "source_code"],
            "larger than the server maximum",
        ),
        (body({"reference": {}}), ["performance", "reference", "source_code"], "Field required"),
        (body({"weights": {"cpu_time": 0, "memory": 0}}), ["performance", "weights"], "above 0"),
        (body({"weights": {"cpu_time": -1}}), ["performance", "weights", "cpu_time"], ">= 0"),
        (body({"weights": {"cpu": 1}}), ["performance", "weights", "cpu"], "Extra inputs"),
        (body({"weights": {"memory": True}}), ["performance", "weights", "memory"], "number"),
        (body({"speed": 1}), ["performance", "speed"], "Extra inputs"),
    ],
)
async def test_a_bad_performance_request_is_a_422_naming_the_field(
    client: httpx.AsyncClient, sent: dict[str, Any], loc: list[str | int], message: str
) -> None:
    response = await client.post("/execute", json={k: v for k, v in sent.items() if v is not None})
    assert response.status_code == 422, response.text
    error = response.json()
    assert error["detail"][0]["loc"] == ["body", *loc], error
    assert error["error"].startswith(".".join(map(str, loc)) + ": "), error
    assert message.replace(">= 0", "greater than or equal to 0") in error["error"], error


async def test_the_repeat_bound_is_published_and_restated_in_the_422(
    client: httpx.AsyncClient,
) -> None:
    limits = (await client.get("/limits")).json()
    assert (limits["default_performance_repeat"], limits["max_performance_repeat"]) == (5, 7)
    response = await client.post("/execute", json=body({"repeat": 8}))
    assert response.json()["detail"][0]["type"] == "less_than_equal"


async def test_a_good_performance_request_is_accepted(client: httpx.AsyncClient) -> None:
    sent = body({"reference": {"language": "python", "source_code": SORT}, "repeat": 7})
    response = await client.post("/execute", json=sent)
    assert response.status_code == 202, response.text


async def test_defaults_are_resolved_on_the_native_path(app: FastAPI) -> None:
    svc = services_of(app)
    request = await job_request(JobCreate.model_validate(body({"reference": REFERENCE})), svc)
    performance = request.performance
    assert performance is not None
    assert performance.cases == [0, 1, 2]
    assert performance.repeat == 5
    assert performance.reference == Reference(language="python", source_code=SORT)
    assert performance.weights == Weights(cpu_time=0.75, memory=0.25)
    chosen = body({"cases": [2, 0], "repeat": 1, "weights": {"cpu_time": 1, "memory": 3}})
    request = await job_request(JobCreate.model_validate(chosen), svc)
    assert request.performance is not None
    assert request.performance.reference is None
    assert (request.performance.cases, request.performance.repeat) == ([2, 0], 1)
    assert request.performance.weights == Weights(cpu_time=1, memory=3)


async def test_the_reference_takes_the_submissions_language_by_default(app: FastAPI) -> None:
    svc = services_of(app)
    sent = body({"reference": {"source_code": "int main(void) { return 0; }"}}, language="c")
    request = await job_request(JobCreate.model_validate(sent), svc)
    assert request.performance is not None and request.performance.reference is not None
    assert request.performance.reference.language == "c"


def test_a_default_repeat_above_its_maximum_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="default_performance_repeat=9 is above"):
        Settings(default_performance_repeat=9, max_performance_repeat=8)
