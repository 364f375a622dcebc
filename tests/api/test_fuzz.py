"""Hostile input on every route of the native and the Judge0 API: never a 5xx, and every
answer is what the OpenAPI schema says it is.

Most of it runs in-process against an app with no workers (jobs are accepted, never run),
which is all the API surface needs; a little runs against a real server whose workers run
what was accepted.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import schemathesis
from fastapi import FastAPI
from schemathesis import BaseSchema, Case

from onpyrunner.api.app import create_app
from onpyrunner.settings import Settings

JSON = {"content-type": "application/json"}


def queue_only_settings(**overrides: object) -> Settings:
    """No in-process workers and the in-memory queue: jobs are accepted and never run, and
    ?wait gives up at once."""
    return Settings.model_validate(
        {"workers": 0, "redis_url": None, "max_wait_s": 0.01, **overrides}
    )


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


# --- bodies that are not what a route reads ------------------------------------------------

MAX_BODY_BYTES = queue_only_settings().max_body_bytes

#: Every route that reads a body, as (path, API).
BODY_ROUTES = [
    ("/execute", "native"),
    ("/execute?wait=true", "native"),
    ("/judge0/submissions", "judge0"),
    ("/judge0/submissions?wait=true&base64_encoded=true", "judge0"),
    ("/judge0/submissions/batch", "judge0"),
]

HOSTILE_BODIES = {
    "not UTF-8": b'{"source_code": "\xff\xfe"}'.replace(b"\\xff\\xfe", b"\xff\xfe"),
    "a lone UTF-8 continuation byte": b"\x80",
    "UTF-16": '{"source_code": "print(1)"}'.encode("utf-16"),
    "a surrogate encoded as UTF-8 bytes": b'{"source_code": "\xed\xa0\x80"}',
    "not JSON": b"source_code=print(1)",
    "empty": b"",
    "only whitespace": b" \r\n\t",
    "10,000 nested lists": b"[" * 10_000 + b"]" * 10_000,
    "10,000 nested objects": b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
    "10,000 nested lists in a field": b'{"source_code": ' + b"[" * 10_000 + b"]" * 10_000 + b"}",
    "an integer of 400 digits": b'{"source_code": "x", "language_id": 1%s}' % (b"0" * 400),
    "an integer of 5000 digits": b'{"source_code": "x", "limits": {"cpu_time_ms": 1%s}}'
    % (b"0" * 5000),
    "1e400": b'{"source_code": "x", "language_id": 1e400, "limits": {"memory_mb": 1e400}}',
    "NaN and Infinity": b'{"source_code": "x", "language_id": NaN, "cpu_time_limit": -Infinity}',
    "a bare number": b"1" + b"0" * 400,
    "null": b"null",
    "a list": b"[]",
    "NUL and control characters": b'{"source_code": "\\u0000\\u0001\\u001b[31m\\u007f'
    b'\\u0085\\u2028\\ufeff\\uffff", "language_id": 71}',
    "raw control bytes in a string": b'{"source_code": "a\x00b\x1bc\x7f"}',
    "a source over max_source_kb": b'{"language_id": 71, "source_code": "%s"}' % (b"x" * (1 << 20)),
    "a stdin of 3 MiB": b'{"language_id": 71, "source_code": "x", "stdin": "%s"}'
    % (b"\\n" * (3 << 19)),
    "duplicate keys": b'{"source_code": 1, "source_code": "x", "language_id": 71}',
    "a body over max_body_bytes": b" " * (MAX_BODY_BYTES + 1),
}

CONTENT_TYPES = [
    None,
    "application/json",
    "application/json; charset=latin-1",
    "application/vnd.api+json",
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/octet-stream",
    "\u00e9/\u00e9",
]


def assert_error_body(body: object) -> None:
    """{"error": message}, as every API here answers a problem that names no field."""
    assert isinstance(body, dict), body
    assert isinstance(body.get("error"), str), body


def assert_native_answer(response: httpx.Response) -> None:
    """An answer of the native API: the job, or an error that names what is wrong."""
    body = response.json()
    if response.status_code in (200, 202):
        assert isinstance(body["job_id"], str) and body["status"], body
        return
    assert_error_body(body)
    if response.status_code == 422:
        assert body["detail"], body
        for problem in body["detail"]:
            assert set(problem) == {"type", "loc", "msg"}, problem
            assert problem["loc"][0] in ("body", "query"), problem
        where = [str(part) for part in body["detail"][0]["loc"][1:]]
        assert body["error"].startswith((".".join(where) or "body") + ":"), body


def assert_judge0_problems(body: object) -> None:
    """Judge0's problems: {"field": ["message", ...]}."""
    assert isinstance(body, dict) and body, body
    for field, messages in body.items():
        assert isinstance(field, str), body
        assert messages and all(isinstance(m, str) for m in messages), body


def assert_judge0_answer(response: httpx.Response) -> None:
    """An answer of the Judge0 API, in Judge0's shapes."""
    body = response.json()
    if response.status_code == 201:
        for entry in body if isinstance(body, list) else [body]:
            assert "token" in entry or "status" in entry or entry, body
            if "token" not in entry:
                assert_judge0_problems(entry)
    elif response.status_code == 422:
        for entry in body if isinstance(body, list) else [body]:
            assert_judge0_problems(entry)
    else:
        assert_error_body(body)


def assert_answer(api: str, response: httpx.Response) -> None:
    assert response.status_code < 500, response.text
    assert response.headers["content-type"] == "application/json", response.headers
    if api == "native":
        assert_native_answer(response)
    else:
        assert_judge0_answer(response)


@pytest.mark.parametrize(("path", "api"), BODY_ROUTES)
@pytest.mark.parametrize("name", HOSTILE_BODIES)
async def test_hostile_body_gets_a_4xx_or_runs(
    client: httpx.AsyncClient, path: str, api: str, name: str
) -> None:
    body = HOSTILE_BODIES[name]
    if path.endswith("batch") and body.startswith(b"{"):
        body = b'{"submissions": [%s]}' % body
    response = await client.post(path, content=body, headers=JSON)
    assert_answer(api, response)
    if name == "a body over max_body_bytes":
        assert response.status_code == 413


@pytest.mark.parametrize(("path", "api"), BODY_ROUTES)
@pytest.mark.parametrize("content_type", CONTENT_TYPES)
async def test_any_content_type_gets_a_4xx_or_runs(
    client: httpx.AsyncClient, path: str, api: str, content_type: str | None
) -> None:
    body = b'{"source_code": "print(1)", "language_id": 71}'
    if path.endswith("batch"):
        body = b'{"submissions": [%s]}' % body
    # bytes: a header is latin-1 on the wire, whatever it holds
    headers = {} if content_type is None else {b"content-type": content_type.encode("latin-1")}
    response = await client.post(path, content=body, headers=headers)
    assert_answer(api, response)


# --- methods -------------------------------------------------------------------------------

#: A path template's parameters filled in, to request the path.
SAMPLE_PARAMS = {
    "job_id": "5f0c6b8e-1111-4222-8333-944455556666",
    "token": "5f0c6b8e-1111-4222-8333-944455556666",
    "language_id": "71",
}


async def test_405_lists_every_method_of_the_path_in_allow(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    for template, operations in app.openapi()["paths"].items():
        path = template.format(**SAMPLE_PARAMS)
        documented = {method.upper() for method in operations}
        response = await client.request("PATCH" if "PATCH" not in documented else "PUT", path)
        assert response.status_code == 405, (path, response.text)
        allowed = {m.strip() for m in response.headers["allow"].split(",")}
        assert allowed - {"HEAD"} == documented, path


# --- schemathesis: every operation of the served OpenAPI schema ---------------------------

#: What every answer is held to. Not positive_data_acceptance: a request the schema allows
#: may still be refused for what only the server knows (a language no live worker offers,
#: a limit over a server maximum, an unknown token).
CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "negative_data_rejection",
    "missing_required_header",
    "unsupported_method",
    "allow_header_conformance",
]


def fuzz_config(max_examples: int, *operations: dict[str, object]) -> schemathesis.Config:
    """Reproducible (fixed seed, no example database), bounded, all checks in CHECKS."""
    return schemathesis.Config.from_dict(
        {
            "seed": 20_260_101,
            "generation": {
                "mode": "all",  # schema-valid and schema-violating requests
                "max-examples": max_examples,
                "deterministic": True,
                "database": "none",
            },
            "phases": {
                "examples": {"enabled": True},
                "coverage": {"enabled": True},  # boundaries, and the methods a path lacks
                "fuzzing": {"enabled": True},
                "stateful": {"enabled": False},
            },
            "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
            "operations": list(operations),
        }
    )


def in_process_schema(app: FastAPI, config: schemathesis.Config) -> BaseSchema:
    """The app's schema, its operations called in-process. Loaded from app.openapi() (the
    document GET /openapi.json serves), since schemathesis's fixture loader does not work
    with pytest 9.2. schemathesis starts the app's lifespan at an operation's first request
    and ends it after that operation's test."""
    schema = schemathesis.openapi.from_dict(app.openapi(), config=config)
    schema.app = app
    return schema


# create_app starts nothing: the lifespan runs only when schemathesis calls the app.
QUEUE_ONLY_APP = create_app(queue_only_settings())
QUEUE_ONLY_SCHEMA = in_process_schema(
    QUEUE_ONLY_APP,
    fuzz_config(
        40,
        {
            # Without workers, readiness is 503 "no worker is alive" by design (documented).
            "include-path": "/health",
            "checks": {"not_a_server_error": {"expected-statuses": ["2xx", "4xx", "503"]}},
        },
    ),
)


async def test_served_schema_is_the_one_fuzzed(client: httpx.AsyncClient) -> None:
    assert (await client.get("/openapi.json")).json() == QUEUE_ONLY_APP.openapi()


@QUEUE_ONLY_SCHEMA.parametrize()
def test_every_operation_answers_as_its_schema_says(case: Case[Any]) -> None:
    case.call_and_validate()


# With tokens required, every operation but /health answers 401 to a request without one,
# as the schema then says. A few examples each: what is fuzzed is the refusal.
TOKEN_APP = create_app(queue_only_settings(auth_tokens="fuzz-token"))
TOKEN_SCHEMA = in_process_schema(
    TOKEN_APP,
    fuzz_config(
        5,
        {
            "include-path": "/health",
            "checks": {"not_a_server_error": {"expected-statuses": ["2xx", "4xx", "503"]}},
        },
    ),
)


@TOKEN_SCHEMA.parametrize()
def test_without_a_token_every_operation_answers_as_its_schema_says(case: Case[Any]) -> None:
    response = case.call_and_validate()
    # The token is checked before routing, so even a method a path lacks is a 401.
    assert response.status_code in ((200, 405, 503) if case.path == "/health" else (401,))
