"""The sizes RL and benchmark runs need: the settings go up to their ceilings, and a server
at the ceilings takes and runs what they allow, on both backends."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from onpyrunner.settings import Settings
from tests.api.conftest import custom_server

CEILINGS = {"max_test_cases": "1000", "max_stdin_kb": "16384", "max_body_bytes": str(64 << 20)}


@pytest.mark.parametrize(
    ("name", "value"),
    [("max_test_cases", 1001), ("max_stdin_kb", 16385), ("max_body_bytes", (64 << 20) + 1)],
)
def test_settings_above_their_ceilings_are_refused(name: str, value: int) -> None:
    with pytest.raises(ValidationError, match=name):
        Settings(**{name: value})  # type: ignore[arg-type]


def test_the_defaults_are_unchanged() -> None:
    settings = Settings()
    assert (settings.max_test_cases, settings.max_stdin_kb, settings.max_body_bytes) == (
        100,
        4096,
        16 << 20,
    )


@pytest.mark.sandbox
def test_a_server_at_the_ceilings_runs_what_they_allow(backend: str) -> None:
    with custom_server(backend, 2, **CEILINGS) as api:
        limits = api.http.get("/limits").json()
        assert (limits["max_test_cases"], limits["max_stdin_kb"]) == (1000, 16384)
        many = [{"stdin": "", "expected_stdout": ""}] * 1000
        accepted = api.submit({"source_code": "pass", "test_cases": many})
        assert accepted.status_code == 202, accepted.text
        api.http.delete(f"/jobs/{accepted.json()['job_id']}")  # accepted is the point
        too_many = api.submit({"source_code": "pass", "test_cases": [*many, many[0]]})
        assert too_many.status_code == 422
        stdin = "x" * (16 << 20)  # 16 MiB in one case: a body over the default 16 MiB
        source = "import sys\nprint(len(sys.stdin.buffer.read()))\n"
        case = {"stdin": stdin, "expected_stdout": f"{16 << 20}\n"}
        job = api.run({"source_code": source, "test_cases": [case]})
        assert job["status"] == "COMPLETED", job
        assert job["result"]["verdict"] == "ACCEPTED"
