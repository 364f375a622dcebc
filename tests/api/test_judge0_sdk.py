"""The official Judge0 Python SDK (PyPI `judge0`, pinned in the test extra), unchanged,
against a real OnPyRunner server on loopback, on both queue backends.

The SDK polls until submissions finish; each test gives its client a MaxWaitTime strategy
so the wait is bounded (a fresh client per test: the strategy counts across calls).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import httpx
import judge0
import pytest

from tests.api.conftest import custom_server
from tests.service import Server
from tests.toolchains import need_offered

pytestmark = pytest.mark.sandbox


def sdk_client(api: Server, paths: list[str] | None = None) -> judge0.Client:
    """The SDK's client for a self-hosted Judge0, pointed at this server's /judge0."""
    client = judge0.Client(f"{api.url}/judge0", retry_strategy=judge0.MaxWaitTime(90))
    if paths is not None:

        def record(request: httpx.Request) -> None:
            paths.append(f"{request.method} {request.url.path}")

        client.client.event_hooks["request"].append(record)
    return client


def test_sdk_runs_python_with_stdin(api: Server) -> None:
    client = sdk_client(api)
    result = judge0.run(
        client=client, source_code="print(int(input()) * 2)", language=71, stdin="21\n"
    )
    assert isinstance(result, judge0.Submission)
    assert result.status == judge0.Status.ACCEPTED
    assert result.stdout == "42\n"
    assert result.stderr is None
    assert result.exit_code == 0
    assert result.time is not None and 0 < result.time < 2
    assert result.wall_time is not None and result.wall_time >= 0
    assert result.memory is not None and result.memory > 0
    assert uuid.UUID(str(result.token)).version == 4
    assert result.created_at is not None and result.finished_at is not None
    assert result.created_at <= result.finished_at


def test_sdk_language_alias_resolves_through_about(api: Server) -> None:
    client = sdk_client(api)
    assert client.version == "1.13.1"
    assert client.is_language_supported(judge0.PYTHON)
    assert client.get_language(71).name.startswith("Python (3.")
    result = judge0.run(client=client, source_code="print('alias')", language=judge0.PYTHON)
    assert isinstance(result, judge0.Submission)
    assert result.stdout == "alias\n"


def test_sdk_runs_the_scientific_profile_under_its_own_id(api: Server) -> None:
    offered = {lang["id"] for lang in api.http.get("/languages").json()}
    need_offered("python-sci" in offered, "python-sci")
    client = sdk_client(api)
    assert client.get_language(1001).name.startswith("Python for ML (3.")
    code = "import numpy as np\nprint(int(np.arange(5).sum()))"
    result = judge0.run(client=client, source_code=code, language=1001)
    assert isinstance(result, judge0.Submission)
    assert result.status == judge0.Status.ACCEPTED and result.stdout == "10\n"


def test_sdk_test_cases_go_through_the_batch_endpoints(api: Server) -> None:
    paths: list[str] = []
    client = sdk_client(api, paths)
    results = judge0.run(
        client=client,
        source_code="print(int(input()) * 2)",
        language=71,
        test_cases=[("1\n", "2"), ("5\n", "10\n"), ("3\n", "7")],
    )
    assert isinstance(results, list)
    assert [r.status for r in results] == [
        judge0.Status.ACCEPTED,
        judge0.Status.ACCEPTED,
        judge0.Status.WRONG_ANSWER,
    ]
    assert [r.stdout for r in results] == ["2\n", "10\n", "6\n"]
    assert [r.stdin for r in results] == ["1\n", "5\n", "3\n"]  # answered back as sent
    assert [r.expected_output for r in results] == ["2", "10\n", "7"]
    assert "POST /judge0/submissions/batch" in paths
    assert "GET /judge0/submissions/batch" in paths
    assert "POST /judge0/submissions" not in paths  # three at once, not one by one


def test_sdk_wrong_answer(api: Server) -> None:
    client = sdk_client(api)
    result = judge0.run(
        client=client, source_code="print('hello')", language=71, expected_output="goodbye"
    )
    assert isinstance(result, judge0.Submission)
    assert result.status == judge0.Status.WRONG_ANSWER
    assert result.stdout == "hello\n"


def test_sdk_time_limit_exceeded(api: Server) -> None:
    client = sdk_client(api)
    result = judge0.run(  # a wall limit far away: the CPU limit is what stops it, any load
        client=client,
        source_code="while True:\n    pass\n",
        language=71,
        cpu_time_limit=0.5,
        wall_time_limit=30,
    )
    assert isinstance(result, judge0.Submission)
    assert result.status == judge0.Status.TIME_LIMIT_EXCEEDED
    assert result.time is not None and result.time >= 0.5
    assert result.message == "VGltZSBsaW1pdCBleGNlZWRlZA==\n"  # base64: the SDK leaves it


def test_sdk_runtime_error_and_its_stderr(api: Server) -> None:
    client = sdk_client(api)
    result = judge0.run(client=client, source_code="raise SystemExit(4)", language=71)
    assert isinstance(result, judge0.Submission)
    assert result.status == judge0.Status.RUNTIME_ERROR_NZEC
    assert result.exit_code == 4
    result = judge0.run(client=client, source_code="1/0", language=71)
    assert isinstance(result, judge0.Submission)
    assert result.status == judge0.Status.RUNTIME_ERROR_NZEC
    assert result.stderr is not None and "ZeroDivisionError" in result.stderr


@pytest.fixture(scope="module")
def secured() -> Iterator[Server]:
    with custom_server("memory", auth_tokens="sdk-token-1,sdk-token-2") as s:
        yield s


def test_sdk_configured_by_its_environment_variables_with_a_token(
    secured: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JUDGE0_CE_ENDPOINT", f"{secured.url}/judge0")
    monkeypatch.setenv("JUDGE0_CE_AUTH_HEADERS", json.dumps({"X-Auth-Token": "sdk-token-2"}))
    monkeypatch.setattr(judge0, "JUDGE0_IMPLICIT_CE_CLIENT", None)
    client = judge0.get_client(judge0.CE)  # both variables set: never a hosted client
    assert type(client) is judge0.Client
    assert client.endpoint == f"{secured.url}/judge0"
    client.retry_strategy = judge0.MaxWaitTime(90)
    result = judge0.run(client=client, source_code="print(6 * 7)", language=71)
    assert isinstance(result, judge0.Submission)
    assert result.stdout == "42\n"


def test_sdk_without_the_token_is_refused(secured: Server) -> None:
    with pytest.raises(RuntimeError, match="Authentication failed"):
        judge0.Client(f"{secured.url}/judge0")
