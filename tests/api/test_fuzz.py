"""Hostile input on every route of the native and the Judge0 API: never a 5xx, and every
answer is what the OpenAPI schema says it is.

Most of it runs in-process against an app with no workers (jobs are accepted, never run),
which is all the API surface needs; a little runs against a real server whose workers run
what was accepted.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from onpyrunner.api.app import create_app
from onpyrunner.settings import Settings

JSON = {"content-type": "application/json"}


def queue_only_settings(**overrides: object) -> Settings:
    """No in-process workers and the in-memory queue: jobs are accepted and never run."""
    return Settings.model_validate({"workers": 0, "redis_url": None, **overrides})


@pytest.fixture(scope="module")
async def app() -> AsyncIterator[FastAPI]:
    """The app in-process, its lifespan running."""
    app = create_app(queue_only_settings())
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture(scope="module")
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the in-process app; a 500 is answered, not raised."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://fuzz") as c:
        yield c


# --- strings that are not Unicode text ---------------------------------------------------

#: JSON allows "\ud800" (a UTF-16 surrogate with no partner): Python decodes it to a str that
#: cannot be encoded as UTF-8, so it can reach neither a file, nor Redis, nor an answer.
LONE_SURROGATE = "\ud800"


def raw_json(value: object) -> bytes:
    """JSON with every non-ASCII character escaped, lone surrogates included."""
    return json.dumps(value).encode()


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"source_code": LONE_SURROGATE}, ["source_code"]),
        ({"source_code": "x", "stdin": "a" + LONE_SURROGATE}, ["stdin"]),
        ({"source_code": "x", "language": LONE_SURROGATE}, ["language"]),
        (
            {"source_code": "x", "test_cases": [{"expected_stdout": LONE_SURROGATE}]},
            ["test_cases", 0, "expected_stdout"],
        ),
        (
            {"source_code": "x", "test_cases": [{"expected_stdout": "", "stdin": LONE_SURROGATE}]},
            ["test_cases", 0, "stdin"],
        ),
        (
            {"source_code": "x", "test_cases": [{"expected_stdout": "", "name": LONE_SURROGATE}]},
            ["test_cases", 0, "name"],
        ),
    ],
)
async def test_lone_surrogate_in_a_native_field_is_a_422_naming_it(
    client: httpx.AsyncClient, body: dict[str, object], loc: list[str | int]
) -> None:
    response = await client.post("/execute", content=raw_json(body), headers=JSON)
    assert response.status_code == 422, response.text
    error = response.json()
    assert error["error"].startswith(".".join(map(str, loc)) + ":")
    assert error["detail"][0]["loc"] == ["body", *loc]


@pytest.mark.parametrize("field", ["source_code", "stdin", "expected_output"])
async def test_lone_surrogate_in_a_judge0_field_is_a_422_naming_it(
    client: httpx.AsyncClient, field: str
) -> None:
    submission = {"source_code": "x", "language_id": 71, field: LONE_SURROGATE}
    response = await client.post("/judge0/submissions", content=raw_json(submission), headers=JSON)
    assert response.status_code == 422, response.text
    assert list(response.json()) == [field]
    batch = {"submissions": [submission]}
    response = await client.post("/judge0/submissions/batch", content=raw_json(batch), headers=JSON)
    assert response.status_code == 422, response.text
    assert list(response.json()[0]) == [field]


async def test_a_whole_surrogate_pair_is_text(client: httpx.AsyncClient) -> None:
    grin = "\\ud83d\\ude00"  # one character outside the BMP, as JSON escapes it
    body = f'{{"source_code": "print(1)", "stdin": "{grin}"}}'.encode()
    assert (await client.post("/execute", content=body, headers=JSON)).status_code == 202
    body = f'{{"source_code": "print(1)", "language_id": 71, "stdin": "{grin}"}}'.encode()
    assert (await client.post("/judge0/submissions", content=body, headers=JSON)).status_code == 201


# --- types are what the schema says ------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"stop_on_first_failure": "yes"}, ["stop_on_first_failure"]),
        ({"stop_on_first_failure": 1}, ["stop_on_first_failure"]),
        ({"test_cases": [{"expected_stdout": "", "hidden": 0}]}, ["test_cases", 0, "hidden"]),
        ({"test_cases": [{"expected_stdout": "", "points": "1"}]}, ["test_cases", 0, "points"]),
        ({"test_cases": [{"expected_stdout": "", "points": True}]}, ["test_cases", 0, "points"]),
        ({"limits": {"cpu_time_ms": "1000"}}, ["limits", "cpu_time_ms"]),
        ({"limits": {"memory_mb": 64.0}}, ["limits", "memory_mb"]),
        ({"limits": {"max_processes": True}}, ["limits", "max_processes"]),
    ],
)
async def test_a_value_of_the_wrong_type_is_a_422_naming_it(
    client: httpx.AsyncClient, body: dict[str, object], loc: list[str | int]
) -> None:
    response = await client.post("/execute", json={"source_code": "print(1)", **body})
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["body", *loc]


@pytest.mark.parametrize("token", [b"NaN", b"Infinity", b"-Infinity", b"1e400"])
async def test_a_number_that_is_not_finite_is_a_422(
    client: httpx.AsyncClient, token: bytes
) -> None:
    """Python's JSON parser reads NaN and Infinity, and 1e400 as infinity."""
    for body, loc in [
        (b'{"source_code": "", "test_cases": [{"expected_stdout": "", "points": %s}]}', "points"),
        (b'{"source_code": "", "checker": {"type": "float", "abs_tol": %s}}', "abs_tol"),
        (b'{"source_code": "", "limits": {"cpu_time_ms": %s}}', "cpu_time_ms"),
    ]:
        response = await client.post("/execute", content=body % token, headers=JSON)
        assert response.status_code == 422, response.text
        assert loc in response.text
