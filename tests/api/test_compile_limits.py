"""A request's compile limits on the native path: resolved by the one resolution (at most the
server's compile values), a bad one a 422 naming `compile_limits.<name>` (in-process, no
worker: nothing runs); and, through a real server, a compile they stop, and the result's
compile_time_ms."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from onpyrunner.api.schemas import JobCreate
from onpyrunner.api.submit import job_request
from onpyrunner.limits import LimitTable
from onpyrunner.settings import Settings
from tests.api.inprocess import app_fixtures, services_of
from tests.service import Server

SETTINGS = {"workers": 0, "redis_url": None, "max_wait_s": 0.01, "compile_wall_time_ms": 9000}
CPP = "int main() { return 0; }\n"


app, client = app_fixtures(Settings.model_validate(SETTINGS))


def body(**changes: Any) -> dict[str, Any]:
    return {"language": "cpp", "source_code": CPP, **changes}


async def test_a_request_without_compile_limits_gets_the_servers(app: FastAPI) -> None:
    svc = services_of(app)
    request = await job_request(JobCreate.model_validate(body()), svc)
    assert request.compile_limits == svc.limits.compile
    assert request.compile_limits.wall_time_ms == 9000  # the setting, not the shipped value


async def test_compile_limits_shorten_the_servers_and_leave_the_run_limits(app: FastAPI) -> None:
    svc = services_of(app)
    sent = body(compile_limits={"wall_time_ms": 50, "cpu_time_ms": 40}, limits={"memory_mb": 64})
    request = await job_request(JobCreate.model_validate(sent), svc)
    assert request.compile_limits == svc.limits.compile.model_copy(
        update={"wall_time_ms": 50, "cpu_time_ms": 40}
    )
    assert request.limits == svc.limits.defaults.model_copy(update={"memory_mb": 64})


async def test_compile_limits_of_a_language_that_does_not_compile_are_taken_and_unused(
    app: FastAPI,
) -> None:
    sent = body(language="python", source_code="print(1)", compile_limits={"wall_time_ms": 50})
    request = await job_request(JobCreate.model_validate(sent), services_of(app))
    assert request.compile_limits is not None and request.compile_limits.wall_time_ms == 50


@pytest.mark.parametrize(
    ("compile_limits", "name", "kind", "message"),
    [
        ({"wall_time_ms": 9001}, "wall_time_ms", "less_than_equal", "at most 9000"),
        (
            {"memory_mb": LimitTable.shipped().compile.memory_mb + 1},
            "memory_mb",
            "less_than_equal",
            "(the server's compile limit)",
        ),
        ({"cpu_time_ms": 0}, "cpu_time_ms", "greater_than_equal", "greater than or equal to 1"),
        ({"wall_time_ms": "50"}, "wall_time_ms", "int_type", "valid integer"),
        ({"wall_time_ms": 50.0}, "wall_time_ms", "int_type", "valid integer"),
        ({"compile_ms": 50}, "compile_ms", "extra_forbidden", "Extra inputs"),
    ],
)
async def test_a_bad_compile_limit_is_a_422_naming_the_field(
    client: httpx.AsyncClient, compile_limits: dict[str, Any], name: str, kind: str, message: str
) -> None:
    response = await client.post("/execute", json=body(compile_limits=compile_limits))
    assert response.status_code == 422, response.text
    error = response.json()
    assert error["detail"][0]["loc"] == ["body", "compile_limits", name], error
    assert error["detail"][0]["type"] == kind, error
    assert error["error"].startswith(f"compile_limits.{name}: "), error
    assert message in error["error"], error


async def test_a_run_limit_and_a_compile_limit_refused_together_are_both_named(
    client: httpx.AsyncClient,
) -> None:
    sent = body(limits={"wall_time_ms": 10**6}, compile_limits={"wall_time_ms": 10**6})
    response = await client.post("/execute", json=sent)
    assert response.status_code == 422, response.text
    locs = [problem["loc"] for problem in response.json()["detail"]]
    assert locs == [["body", "limits", "wall_time_ms"], ["body", "compile_limits", "wall_time_ms"]]


# --- through a real server and the real sandbox ------------------------------------------


@pytest.mark.sandbox
def test_a_compile_stopped_by_a_jobs_compile_limits_is_that_jobs_alone(api: Server) -> None:
    # every standard header: far longer than 50 ms to compile anywhere; new each time
    token = uuid.uuid4().hex
    source = f'#include <bits/stdc++.h>\nint main() {{ std::cout << "{token}"; }}\n'
    short = {"wall_time_ms": 50, "cpu_time_ms": 50}
    stopped = api.run({"language": "cpp", "source_code": source, "compile_limits": short})
    result = stopped["result"]
    assert result["outcome"] == "COMPILE_ERROR", result
    assert result["compile_output"].startswith(
        "compilation stopped: over its time limit (50 ms CPU, 50 ms wall)"
    )
    assert result["compile_time_ms"] > 0
    done = api.run({"language": "cpp", "source_code": source})["result"]
    assert done["outcome"] == "SUCCESS" and done["stdout"] == token, done
    assert done["compile_time_ms"] > 50
    cached = api.run({"language": "cpp", "source_code": source, "compile_limits": short})
    assert cached["result"]["outcome"] == "SUCCESS" and cached["result"]["compile_time_ms"] == 0
    python = api.run({"source_code": "print(1)", "compile_limits": short})["result"]
    assert python["outcome"] == "SUCCESS" and python["compile_time_ms"] is None
