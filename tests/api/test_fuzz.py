"""Hostile input on every route of the native and the Judge0 API: never a 5xx, and every
answer is what the OpenAPI schema says it is.

Most of it runs in-process against an app with no workers (jobs are accepted, never run),
which is all the API surface needs; a little runs against a real server whose workers run
what was accepted.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from schemathesis import BaseSchema, Case
from starlette.types import Message

from onpyrunner.api.compat.judge0.encoding import decode64, encode64
from onpyrunner.models import text_problem
from onpyrunner.service import create_app
from onpyrunner.settings import Settings
from tests.api.inprocess import app_fixtures
from tests.service import Server

pytestmark = pytest.mark.fuzz

JSON = {"content-type": "application/json"}


def queue_only_settings(**overrides: object) -> Settings:
    """No in-process workers and the in-memory queue: jobs are accepted and never run, and
    ?wait gives up at once; so do the synchronous calls (SandboxFusion, Piston), their
    jobs' wall and compile limits held to 50 ms (a longer one is a 422)."""
    return Settings.model_validate(
        {
            "workers": 0,
            "redis_url": None,
            "max_wait_s": 0.01,
            "sync_wait_margin_s": 0.0,
            "default_wall_time_ms": 50,
            "max_wall_time_ms": 50,
            "compile_wall_time_ms": 50,
            **overrides,
        }
    )


app, client = app_fixtures(queue_only_settings(), base_url="http://fuzz")


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
    "not UTF-8": b'{"source_code": "\xff\xfe"}',
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
        where = [str(part) for part in body["detail"][0]["loc"] if part != "body"]
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
    if response.status_code == 201 and isinstance(body, list):  # a batch
        for entry in body:  # per submission, its token or its problems
            if set(entry) != {"token"}:
                assert_judge0_problems(entry)
    elif response.status_code == 201:  # the token; with ?wait, the requested attributes
        assert isinstance(body, dict), body
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
    "batch_id": "5f0c6b8e-1111-4222-8333-944455556666",
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


# --- hypothesis: arbitrary JSON, every kind of string -------------------------------------

#: Reproducible and bounded: the same examples on every run, none remembered between runs.
FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

#: Characters that break naive code, more often than chance would give them.
SUSPECTS = ["\x00", "\x1b", "\x7f", "\x85", "\u2028", "\ufeff", "\uffff", "\U0010ffff", '"', "\\"]
#: Unicode text: any character but a lone surrogate.
TEXT = st.text(st.characters(codec="utf-8") | st.sampled_from(SUSPECTS), max_size=40)
#: Any str Python's JSON parser can give: lone surrogates too (from "\ud800").
WILD_TEXT = st.text(
    st.characters(exclude_categories=()) | st.sampled_from([*SUSPECTS, "\ud800", "\udfff"]),
    max_size=40,
)
STRINGS = st.one_of(TEXT, TEXT, WILD_TEXT)  # mostly text
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=2**63).map(lambda n: n**7)  # far beyond int64 and float
    | st.floats()  # NaN and infinities included: Python's JSON reads them
    | WILD_TEXT
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(WILD_TEXT, inner, max_size=4),
    max_leaves=12,
)


@st.composite
def hostile(draw: st.DrawFn, plausible: st.SearchStrategy[dict[str, Any]]) -> object:
    """A plausible body as it is, with one field (maybe a new one) set to any JSON value,
    or any JSON value at all."""
    body = draw(plausible)
    how = draw(st.sampled_from(["as it is", "one field", "anything"]))
    if how == "one field":
        body[draw(st.sampled_from(sorted(body)) | WILD_TEXT)] = draw(JSON_VALUES)
    elif how == "anything":
        return draw(JSON_VALUES)
    return body


def encoded(value: object, how: str) -> bytes:
    """value as a JSON body: every non-ASCII character escaped ("\\ud800"), or written as
    UTF-8 bytes (a lone surrogate as its three CESU-8 bytes, which Python's parser takes)."""
    if how == "escaped":
        return json.dumps(value).encode()
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")


ENCODINGS = st.sampled_from(["escaped", "raw"])

LIMIT_NAMES = ["cpu_time_ms", "wall_time_ms", "memory_mb", "output_kb", "max_processes"]
NATIVE_CASE = st.fixed_dictionaries(
    {"expected_stdout": STRINGS},
    optional={
        "stdin": STRINGS,
        "points": st.floats(min_value=0, allow_infinity=False) | st.integers(0, 10**6),
        "hidden": st.booleans(),
        "name": STRINGS,
    },
)
NATIVE_BODIES = hostile(
    st.fixed_dictionaries(
        {"source_code": STRINGS},
        optional={
            "language": st.sampled_from(["python", "pypy", "bash", "c"]) | STRINGS,
            "stdin": STRINGS,
            "limits": st.dictionaries(st.sampled_from(LIMIT_NAMES), st.integers(0, 40_000)),
            "test_cases": st.lists(NATIVE_CASE, max_size=3),
            "checker": st.sampled_from(["lines", "exact", "tokens"])
            | st.fixed_dictionaries(
                {"type": st.just("float")},
                optional={"abs_tol": st.floats(min_value=0), "rel_tol": st.floats(0, 1)},
            ),
            "stop_on_first_failure": st.booleans(),
        },
    )
)

#: What Judge0 reads as a number: small numbers, strings holding one, null (the default),
#: and now and then one it refuses.
JUDGE0_NUMBER = st.one_of(
    st.integers(1, 4),
    st.floats(0.5, 4.0),
    st.integers(1, 4).map(str),
    st.none(),
    st.sampled_from([0, -1, 600_000, 1e400, "1e400", "nan", "inf", " 2 ", "0x10", "٧١"]),
)
JUDGE0_NUMBERS = [
    "cpu_time_limit",
    "cpu_extra_time",
    "wall_time_limit",
    "memory_limit",
    "stack_limit",
    "max_processes_and_or_threads",
    "max_file_size",
    "number_of_runs",
]
JUDGE0_FLAGS = [
    "enable_per_process_and_thread_time_limit",
    "redirect_stderr_to_stdout",
    "enable_per_process_and_thread_memory_limit",
    "enable_network",
]
JUDGE0_WORDS_AND_FILES = ["compiler_options", "command_line_arguments", "additional_files"]
JUDGE0_SUBMISSIONS = hostile(
    st.fixed_dictionaries(
        {
            "source_code": STRINGS.map(lambda text: text or "print(1)"),
            "language_id": st.sampled_from([71, "71", 71.0, 46, 50, 54, 4, None]),
        },
        optional={
            "stdin": STRINGS | st.none(),
            "expected_output": STRINGS | st.none(),
            **dict.fromkeys(JUDGE0_NUMBERS, JUDGE0_NUMBER),
            "number_of_runs": st.sampled_from([1, "1", 1.0, None, 2]),
            **dict.fromkeys(JUDGE0_FLAGS, st.sampled_from([False, 0, "false", "", None, True])),
            **dict.fromkeys(
                JUDGE0_WORDS_AND_FILES,
                st.sampled_from(
                    ["", None, "", None, "-O2", "a 'b", "UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA=="]
                ),
            ),
        },
    )
)
#: Query values: Judge0's spellings, and anything.
QUERY_VALUES = st.sampled_from(["true", "false", "", "*", "token,stdout", "0.01"]) | WILD_TEXT


def base64_fields(body: object) -> object:
    """A submission with its text fields base64-encoded, as ?base64_encoded=true reads them
    (fields that are not text, or not Unicode text, are left for the server to refuse)."""
    if not isinstance(body, dict):
        return body
    encoded_body = dict(body)
    for name in ("source_code", "stdin", "expected_output"):
        value = body.get(name)
        if isinstance(value, str) and text_problem(value) is None:
            encoded_body[name] = encode64(value)
    return encoded_body


def query_string(params: dict[str, str]) -> str:
    """params percent-encoded as UTF-8, a lone surrogate as its CESU-8 bytes."""
    return "&".join(
        f"{quote(k.encode('utf-8', 'surrogatepass'))}={quote(v.encode('utf-8', 'surrogatepass'))}"
        for k, v in params.items()
    )


@FUZZ
@given(body=NATIVE_BODIES, how=ENCODINGS, wait=st.none() | QUERY_VALUES)
async def test_any_json_to_execute_gets_a_4xx_naming_the_field_or_runs(
    client: httpx.AsyncClient, body: object, how: str, wait: str | None
) -> None:
    query = "" if wait is None else "?" + query_string({"wait": wait})
    response = await client.post("/execute" + query, content=encoded(body, how), headers=JSON)
    event(f"answered {response.status_code}")  # see --hypothesis-show-statistics
    assert_answer("native", response)
    if response.status_code in (200, 202):  # accepted: it can be read back, and cancelled
        job_id = response.json()["job_id"]
        shown = await client.get(f"/jobs/{job_id}")
        assert shown.status_code == 200 and shown.json()["job_id"] == job_id, shown.text
        assert (await client.delete(f"/jobs/{job_id}")).status_code == 200


@FUZZ
@given(
    submission=JUDGE0_SUBMISSIONS,
    how=ENCODINGS,
    params=st.dictionaries(st.sampled_from(["base64_encoded", "wait", "fields"]), QUERY_VALUES),
    callback=st.none() | st.sampled_from(["http://127.0.0.1/", "https://[::1]/", "ftp://x/"]),
)
async def test_any_json_to_judge0_submissions_gets_a_4xx_naming_the_field_or_runs(
    client: httpx.AsyncClient,
    submission: object,
    how: str,
    params: dict[str, str],
    callback: str | None,
) -> None:
    if callback is not None and isinstance(submission, dict):  # internal: always refused
        submission["callback_url"] = callback
    if params.get("base64_encoded") == "true":
        submission = base64_fields(submission)
    path = "/judge0/submissions?" + query_string(params)
    response = await client.post(path, content=encoded(submission, how), headers=JSON)
    event(f"answered {response.status_code}")  # see --hypothesis-show-statistics
    assert_answer("judge0", response)
    if response.status_code == 201:  # accepted: it can be read back, whatever it held
        token = response.json()["token"]
        for base64 in ("true", "false"):
            shown = await client.get(
                f"/judge0/submissions/{token}?fields=*&base64_encoded={base64}"
            )
            assert shown.status_code == 200 and shown.json()["token"] == token, shown.text


@FUZZ
@given(
    submissions=st.lists(JUDGE0_SUBMISSIONS, max_size=22) | JSON_VALUES,
    how=ENCODINGS,
    base64=st.none() | QUERY_VALUES,
)
async def test_any_json_to_judge0_batch_gets_a_4xx_naming_the_field_or_runs(
    client: httpx.AsyncClient, submissions: object, how: str, base64: str | None
) -> None:
    query = "" if base64 is None else "?" + query_string({"base64_encoded": base64})
    if base64 == "true" and isinstance(submissions, list):
        submissions = [base64_fields(s) for s in submissions]
    body = encoded({"submissions": submissions}, how)
    response = await client.post("/judge0/submissions/batch" + query, content=body, headers=JSON)
    event(f"answered {response.status_code}")  # see --hypothesis-show-statistics
    assert_answer("judge0", response)
    if response.status_code == 201:
        tokens = [entry["token"] for entry in response.json() if "token" in entry]
        shown = await client.get("/judge0/submissions/batch?fields=*&tokens=" + ",".join(tokens))
        assert shown.status_code == 200, shown.text
        assert [s["token"] for s in shown.json()["submissions"]] == tokens


#: Every route but the submitting ones, with where the arbitrary text goes.
READ_ROUTES = [
    ("GET", "/jobs/{}"),
    ("DELETE", "/jobs/{}"),
    ("GET", "/judge0/submissions/{}"),
    ("DELETE", "/judge0/submissions/{}"),
    ("GET", "/judge0/submissions/batch?tokens={}"),
    ("GET", "/judge0/languages/{}"),
    ("GET", "/languages?{}"),
    ("GET", "/limits?{}"),
    ("GET", "/judge0/statuses?{}"),
    ("GET", "/judge0/about?{}"),
    ("GET", "/judge0/config_info?{}"),
    ("GET", "/judge0/system_info?{}"),
    ("GET", "/judge0/workers?{}"),
    ("GET", "/judge0/languages/all?{}"),
    ("POST", "/judge0/authenticate?{}"),
    ("GET", "/judge0/version?{}"),
    ("GET", "/health?{}"),
    ("GET", "/metrics?{}"),
]


@FUZZ
@given(
    route=st.sampled_from(READ_ROUTES),
    text=WILD_TEXT | st.sampled_from(["5f0c6b8e-1111-4222-8333-944455556666", "1" * 400, "-1"]),
    params=st.dictionaries(
        st.sampled_from(["fields", "base64_encoded", "wait", "tokens", "X-Auth-Token"]) | WILD_TEXT,
        QUERY_VALUES,
        max_size=3,
    ),
    tokens_header=st.none() | st.text(st.characters(max_codepoint=255), max_size=40),
)
async def test_any_id_or_query_gets_a_4xx_or_an_answer(
    client: httpx.AsyncClient,
    route: tuple[str, str],
    text: str,
    params: dict[str, str],
    tokens_header: str | None,
) -> None:
    method, template = route
    quoted = quote(text.encode("utf-8", "surrogatepass"), safe="")
    url = template.format(quoted)
    if params:
        url += ("&" if "?" in url else "?") + query_string(params)
    headers = {} if tokens_header is None else {b"tokens": tokens_header.encode("latin-1")}
    response = await client.request(method, url, headers=headers)
    event(f"{method} {template}: answered {response.status_code}")
    if template.startswith("/health"):  # no worker here: not ready, by design
        assert response.status_code == 503 and response.json()["problems"], response.text
        return
    assert response.status_code < 500, response.text
    if response.headers.get("content-type") == "application/json" and response.status_code >= 400:
        assert_error_body(response.json())


# --- WebSocket: /jobs/{job_id}/events --------------------------------------------------------


async def websocket_session(
    app: FastAPI,
    path: str,
    client_messages: list[Message] = [],  # noqa: B006 (read only)
    on_send: Callable[[Message], Awaitable[None]] | None = None,
    query: bytes = b"",
) -> list[Message]:
    """Every message the app sends on one WebSocket at path, driven as an ASGI server
    would: the handshake, then client_messages, then nothing until the app closes (in at
    most 10 s). on_send sees each message as it is sent."""
    incoming: asyncio.Queue[Message] = asyncio.Queue()
    for message in [{"type": "websocket.connect"}, *client_messages]:
        incoming.put_nowait(message)
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)
        if on_send is not None:
            await on_send(message)

    raw_path = quote(path.encode("utf-8", "surrogatepass")).encode()
    scope = {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "scheme": "ws",
        "path": path,
        "raw_path": raw_path,
        "query_string": query,
        "root_path": "",
        "headers": [(b"host", b"fuzz")],
        "client": ("127.0.0.1", 1),
        "server": ("fuzz", 80),
        "subprotocols": [],
        "extensions": {"websocket.http.response": {}},  # so a refusal can be a 401
    }
    async with asyncio.timeout(10):
        await app(scope, incoming.get, send)
    return sent


def sent_json(messages: list[Message]) -> list[Any]:
    return [json.loads(m["text"]) for m in messages if m["type"] == "websocket.send"]


@FUZZ
@given(
    job_id=TEXT.filter(lambda text: "/" not in text and text not in ("", ".", "..")),
    client_messages=st.lists(
        st.fixed_dictionaries({"type": st.just("websocket.receive"), "text": WILD_TEXT})
        | st.fixed_dictionaries({"type": st.just("websocket.receive"), "bytes": st.binary()})
        | st.just({"type": "websocket.disconnect", "code": 1001}),
        max_size=3,
    ),
)
async def test_websocket_of_an_unknown_job_says_so_and_closes_4404(
    app: FastAPI, job_id: str, client_messages: list[Message]
) -> None:
    sent = await websocket_session(app, f"/jobs/{job_id}/events", client_messages)
    assert [m["type"] for m in sent] == ["websocket.accept", "websocket.send", "websocket.close"]
    assert "not found" in sent_json(sent)[0]["error"]
    assert sent[-1]["code"] == 4404


async def test_websocket_of_a_job_follows_it_to_its_end(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    job_id = (await client.post("/execute", json={"source_code": "x"})).json()["job_id"]

    async def cancel_once_watched(message: Message) -> None:
        if message["type"] == "websocket.send" and '"PENDING"' in message["text"]:
            assert (await client.delete(f"/jobs/{job_id}")).status_code == 200  # no worker

    sent = await websocket_session(app, f"/jobs/{job_id}/events", on_send=cancel_once_watched)
    assert [job["status"] for job in sent_json(sent)] == ["PENDING", "CANCELLED"]
    assert sent[-1] == {"type": "websocket.close", "code": 1000, "reason": ""}


@pytest.mark.parametrize("path", ["/jobs/x/events/more", "/jobs//events", "/events", "/"])
async def test_websocket_elsewhere_is_refused(app: FastAPI, path: str) -> None:
    sent = await websocket_session(app, path)
    assert sent[0]["type"] in ("websocket.close", "websocket.http.response.start"), sent


async def test_websocket_without_a_token_is_a_401() -> None:
    app = create_app(queue_only_settings(auth_tokens="fuzz-token"))
    async with app.router.lifespan_context(app):
        sent = await websocket_session(app, "/jobs/x/events")
        assert sent[0]["type"] == "websocket.http.response.start"
        assert sent[0]["status"] == 401
        sent = await websocket_session(app, "/jobs/x/events", query=b"X-Auth-Token=fuzz-token")
        assert sent[-1]["code"] == 4404


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
        100,
        {
            # Without workers, readiness is 503 "no worker is alive" by design (documented).
            "include-path": "/health",
            "checks": {"not_a_server_error": {"expected-statuses": ["2xx", "4xx", "503"]}},
        },
    ),
)


async def test_served_schema_is_the_one_fuzzed(client: httpx.AsyncClient) -> None:
    assert (await client.get("/openapi.json")).json() == QUEUE_ONLY_APP.openapi()


#: A hundred examples of one operation take seconds; on a machine loaded many times over
#: (CI beside other suites) they take minutes: the suite's per-test bound is not theirs.
FUZZ_BOUND_S = 900


@pytest.mark.timeout(FUZZ_BOUND_S)
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


@pytest.mark.timeout(FUZZ_BOUND_S)
@TOKEN_SCHEMA.parametrize()
def test_without_a_token_every_operation_answers_as_its_schema_says(case: Case[Any]) -> None:
    response = case.call_and_validate()
    # The token is checked before routing, so even a method a path lacks is a 401.
    assert response.status_code in ((200, 405, 503) if case.path == "/health" else (401,))


# --- with real workers: what is accepted runs ---------------------------------------------

#: Fewer examples: each one runs in the sandbox. The api fixture is function-scoped only
#: to take each backend in turn; the server behind it lives for the session.
RUNS = settings(
    FUZZ,
    max_examples=25,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

#: A program that writes its stdin back, then a text of the test's choosing, byte for byte.
ECHO = "import sys\nsys.stdout.buffer.write(sys.stdin.buffer.read() + {text!r}.encode())\n"


@pytest.mark.sandbox
@RUNS
@given(stdin=TEXT, text=TEXT, garbage=TEXT, judged=st.booleans())
def test_any_accepted_job_runs_to_the_end(
    api: Server, stdin: str, text: str, garbage: str, judged: bool
) -> None:
    """Programs, input and expected output of any Unicode text run: a job ends COMPLETED
    (garbage source is a RUNTIME_ERROR), never FAILED, and reads back whole."""
    for source in (ECHO.format(text=text), garbage or "pass"):
        body: dict[str, Any] = {"source_code": source, "stdin": stdin}
        if judged:
            case = {"stdin": stdin, "expected_stdout": stdin + text, "name": text}
            body["test_cases"] = [case, {**case, "hidden": True}]
        response = api.submit(body, wait="true")
        assert response.status_code == 200, response.text
        job = response.json()
        assert job["status"] == "COMPLETED", job
        if source != ECHO.format(text=text):
            continue
        if judged:
            assert job["result"]["verdict"] == "ACCEPTED", job
        else:
            assert job["result"]["stdout"] == stdin + text, job
        assert api.events(job["job_id"])[-1] == api.http.get(f"/jobs/{job['job_id']}").json()


@pytest.mark.sandbox
@RUNS
@given(stdin=TEXT, text=TEXT, base64=st.booleans())
def test_any_accepted_judge0_submission_runs_to_the_end(
    api: Server, stdin: str, text: str, base64: bool
) -> None:
    fields = {
        "source_code": ECHO.format(text=text),
        "stdin": stdin,
        "expected_output": stdin + text,
    }
    if base64:
        fields = {name: encode64(value) for name, value in fields.items()}
    response = api.http.post(
        "/judge0/submissions",
        params={"wait": "true", "fields": "*", "base64_encoded": str(base64).lower()},
        json={**fields, "language_id": 71},
    )
    assert response.status_code == 201, response.text
    submission = response.json()
    assert submission["status"] == {"id": 3, "description": "Accepted"}, submission
    stdout = submission["stdout"] or ""
    assert (decode64(stdout) if base64 else stdout) == stdin + text


@pytest.mark.sandbox
def test_the_longest_stdin_allowed_runs(api: Server) -> None:
    """A stdin of max_stdin_kb (4 MiB) of text that is not ASCII reaches the program whole."""
    line = "é\x00\u2028\U0010ffff NUL and friends\n"  # 26 bytes of UTF-8
    stdin = line * ((4 << 20) // len(line.encode()))
    job = api.run(
        {"source_code": "import sys; print(len(sys.stdin.buffer.read()))", "stdin": stdin}
    )
    assert job["result"]["stdout"] == f"{len(stdin.encode())}\n", job
