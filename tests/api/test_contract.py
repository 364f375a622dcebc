"""The HTTP contract, run against a real server on each backend (memory and Redis)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.api.conftest import custom_server
from tests.service import Server
from tests.toolchains import need_offered

pytestmark = pytest.mark.sandbox

SLEEPER = "import time; time.sleep(30)"


def test_submit_answers_202_with_an_id_and_location(api: Server) -> None:
    response = api.submit({"source_code": "print(6 * 7)"})
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "PENDING"
    assert response.headers["location"] == f"/jobs/{body['job_id']}"
    final = api.events(body["job_id"])[-1]
    assert final["status"] == "COMPLETED"
    job = api.http.get(response.headers["location"]).json()
    assert job["result"]["stdout"] == "42\n"
    assert job["result"]["outcome"] == "SUCCESS"


def test_job_record_has_every_stage_and_its_limits(api: Server) -> None:
    job = api.run(
        {
            "source_code": "print(input())",
            "stdin": "hi\n",
            "limits": {"cpu_time_ms": 1000, "memory_mb": 64},
        }
    )
    assert job["status"] == "COMPLETED"
    assert job["language"] == "python"
    assert job["limits"]["cpu_time_ms"] == 1000
    assert job["limits"]["memory_mb"] == 64
    assert job["limits"]["wall_time_ms"] == 5000  # the default
    stamps = job["timestamps"]
    order = ["received_at", "picked_up_at", "started_at", "finished_at", "stored_at"]
    assert all(stamps[k] and stamps[k].endswith("Z") for k in order)
    assert [stamps[k] for k in order] == sorted(stamps[k] for k in order)
    assert job["result"] == {
        "outcome": "SUCCESS",
        "stdout": "hi\n",
        "stderr": "",
        "exit_code": 0,
        "signal": None,
        "usage": job["result"]["usage"],
        "compile_output": None,
        "compile_time_ms": None,  # Python does not compile
    }
    assert job["error"] is None


def test_wait_answers_200_with_the_finished_job(api: Server) -> None:
    response = api.submit({"source_code": "import sys; print('x'); sys.exit(3)"}, wait="true")
    assert response.status_code == 200
    job = response.json()
    assert job["status"] == "COMPLETED"
    assert job["result"]["outcome"] == "RUNTIME_ERROR"
    assert job["result"]["exit_code"] == 3


def test_wait_that_runs_out_answers_202_with_the_unfinished_job(api: Server) -> None:
    response = api.submit({"source_code": SLEEPER}, wait="0.3")
    assert response.status_code == 202
    job = response.json()
    assert job["status"] in ("PENDING", "RUNNING")
    api.http.delete(f"/jobs/{job['job_id']}")


def test_websocket_sends_each_change_and_ends_with_the_whole_job(api: Server) -> None:
    job_id = api.submit({"source_code": "import time; time.sleep(1.5); print('done')"}).json()[
        "job_id"
    ]
    messages = api.events(job_id)
    statuses = [m["status"] for m in messages]
    assert statuses[-1] == "COMPLETED"
    assert statuses == sorted(set(statuses), key=["PENDING", "RUNNING", "COMPLETED"].index)
    assert "RUNNING" in statuses
    assert messages[-1]["result"]["stdout"] == "done\n"
    assert messages[-1]["job_id"] == job_id


def test_websocket_after_the_end_sends_the_final_job_and_closes(api: Server) -> None:
    job = api.run({"source_code": "print(1)"})
    messages = api.events(job["job_id"])
    assert messages == [job]


def test_websocket_of_an_unknown_job_says_so(api: Server) -> None:
    messages = api.events("no-such-job")
    assert messages == [{"error": "job no-such-job not found (unknown or expired)"}]


def test_cancel_a_running_job_stops_it(api: Server) -> None:
    job_id = api.submit({"source_code": SLEEPER, "limits": {"wall_time_ms": 30000}}).json()[
        "job_id"
    ]
    api.wait_until(job_id, {"RUNNING"})
    started = time.monotonic()
    response = api.http.delete(f"/jobs/{job_id}")
    assert response.status_code == 200
    assert response.json()["status"] == "CANCELLED"
    # The worker is free again at once: both slots take new work well before 30 s.
    first = api.run({"source_code": "print('next')"})
    second = api.run({"source_code": "print('next')"})
    assert first["result"]["stdout"] == second["result"]["stdout"] == "next\n"
    assert time.monotonic() - started < 20
    assert api.http.get(f"/jobs/{job_id}").json()["status"] == "CANCELLED"


def test_cancel_a_pending_job_means_it_never_runs(backend: str) -> None:
    with custom_server(backend, workers=1) as api:
        blocker = api.submit({"source_code": SLEEPER, "limits": {"wall_time_ms": 30000}})
        blocker_id = blocker.json()["job_id"]
        api.wait_until(blocker_id, {"RUNNING"})
        pending_id = api.submit({"source_code": "print('should not run')"}).json()["job_id"]
        response = api.http.delete(f"/jobs/{pending_id}")
        assert response.status_code == 200
        assert response.json()["status"] == "CANCELLED"
        api.http.delete(f"/jobs/{blocker_id}")
        after = api.run({"source_code": "print('after')"})  # the queue moved past it
        assert after["status"] == "COMPLETED"
        job = api.http.get(f"/jobs/{pending_id}").json()
        assert job["status"] == "CANCELLED"
        assert job["attempts"] == 0
        assert job["result"] is None
        assert job["timestamps"]["picked_up_at"] is None


def test_delete_of_a_finished_job_removes_it_and_answers_it_as_it_was(api: Server) -> None:
    job = api.run({"source_code": "print(1)"})
    response = api.http.delete(f"/jobs/{job['job_id']}")
    assert response.status_code == 200
    assert response.json() == job
    assert api.http.get(f"/jobs/{job['job_id']}").status_code == 404
    assert api.http.delete(f"/jobs/{job['job_id']}").status_code == 404


def test_unknown_job_is_404_with_a_json_error(api: Server) -> None:
    for response in (api.http.get("/jobs/nope"), api.http.delete("/jobs/nope")):
        assert response.status_code == 404
        assert response.json() == {"error": "job nope not found (unknown or expired)"}


def test_records_expire_after_their_ttl(backend: str) -> None:
    with custom_server(backend, job_ttl_s="1") as api:
        job = api.run({"source_code": "print(1)"})
        assert api.http.get(f"/jobs/{job['job_id']}").status_code == 200
        deadline = time.monotonic() + 15
        status = 200
        while status == 200 and time.monotonic() < deadline:
            time.sleep(0.2)  # the passing of time is what is under test here
            status = api.http.get(f"/jobs/{job['job_id']}").status_code
        assert status == 404


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"language": "python"}, "source_code", "Field required"),
        (
            {"source_code": "x", "language": "cobol"},
            "language",
            "unknown language 'cobol'; available: ",
        ),
        ({"source_code": "x", "limits": {"memory_mb": 4096}}, "limits.memory_mb", "at most 1024"),
        (
            {"source_code": "x", "limits": {"cpu_time_ms": 0}},
            "limits.cpu_time_ms",
            "greater than or equal to 1",
        ),
        (
            {"source_code": "x", "limits": {"wall_time_ms": 10**6}},
            "limits.wall_time_ms",
            "at most 30000",
        ),
        (
            {"source_code": "x", "test_cases": [{"expected_stdout": ""}] * 101},
            "test_cases",
            "maximum is 100",
        ),
        ({"source_code": "x", "colour": "blue"}, "colour", "Extra inputs are not permitted"),
        ({"source_code": 12}, "source_code", "valid string"),
        ({"source_code": "x" * (257 * 1024)}, "source_code", "larger than the server maximum"),
    ],
)
def test_bad_input_is_422_naming_the_field(
    api: Server, body: dict[str, object], field: str, words: str
) -> None:
    response = api.submit(body)
    assert response.status_code == 422, response.text
    error = response.json()
    assert error["error"].startswith(f"{field}: ")
    assert words in error["error"]
    assert error["detail"][0]["loc"][1:] == [int(p) if p.isdigit() else p for p in field.split(".")]


def test_malformed_json_is_422(api: Server) -> None:
    response = api.http.post(
        "/execute", content=b'{"source_code": ', headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert "JSON" in response.json()["error"]


def test_bad_wait_is_422(api: Server) -> None:
    response = api.submit({"source_code": "print(1)"}, wait="soon")
    assert response.status_code == 422
    assert response.json()["error"].startswith("query.wait: ")


def test_body_over_the_limit_is_413(api: Server) -> None:
    big = b'{"source_code": "' + b"x" * (17 << 20) + b'"}'
    response = api.http.post("/execute", content=big, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert "larger than" in response.json()["error"]


def test_body_over_the_limit_without_length_is_413(api: Server) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"source_code": "'
        for _ in range(17):
            yield b"x" * (1 << 20)
        yield b'"}'

    response = api.http.post(
        "/execute", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413


def test_full_queue_is_503_with_retry_after(backend: str) -> None:
    with custom_server(backend, workers=0, max_pending_jobs="2") as api:
        assert api.submit({"source_code": "print(1)"}).status_code == 202
        assert api.submit({"source_code": "print(2)"}).status_code == 202
        response = api.submit({"source_code": "print(3)"})
        assert response.status_code == 503
        assert response.headers["retry-after"] == "2"
        assert "queue is full" in response.json()["error"]


def test_health_needs_a_live_worker(backend: str) -> None:
    with custom_server(backend, workers=0) as api:
        response = api.http.get("/health")
        assert response.status_code == 503
        assert "no worker is alive" in response.json()["problems"]


def test_health_is_ok_with_workers(api: Server) -> None:
    response = api.http.get("/health")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok"
    assert body["workers"] >= 1


def test_languages_lists_the_runtimes_with_versions(api: Server) -> None:
    languages = {lang["id"]: lang for lang in api.http.get("/languages").json()}
    assert languages["python"]["version"].startswith("CPython 3.")
    assert languages["python"]["name"] == "Python 3 (CPython)"
    assert "packages" not in languages["python"]  # a plain runtime ships none


def test_languages_lists_a_profile_s_packages(api: Server) -> None:
    languages = {lang["id"]: lang for lang in api.http.get("/languages").json()}
    need_offered("python-sci" in languages, "python-sci")
    packages = languages["python-sci"]["packages"]
    assert {"numpy", "pandas", "scipy", "matplotlib", "pytest"} <= set(packages)
    assert all(version[0].isdigit() for version in packages.values())


def test_limits_publish_the_defaults_and_maximums(api: Server) -> None:
    limits = api.http.get("/limits").json()
    assert limits["defaults"]["memory_mb"] == 128
    assert limits["maximums"]["memory_mb"] == 1024
    assert limits["maximums"]["cpu_time_ms"] == 15000
    assert limits["max_test_cases"] == 100
    too_much = limits["maximums"]["wall_time_ms"] + 1
    refused = api.submit({"source_code": "1", "limits": {"wall_time_ms": too_much}})
    assert refused.status_code == 422  # the published maximum is the one enforced


def test_metrics_count_jobs(api: Server) -> None:
    def counter(text: str, name: str) -> float:
        return sum(
            float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name)
        )

    before = api.http.get("/metrics").text
    api.run({"source_code": "print(1)"})
    after = api.http.get("/metrics").text
    assert (
        counter(after, "onpyrunner_jobs_submitted_total")
        == counter(before, "onpyrunner_jobs_submitted_total") + 1
    )
    assert counter(after, 'onpyrunner_jobs_finished_total{outcome="SUCCESS"') >= 1
    for name in (
        "onpyrunner_queue_depth",
        "onpyrunner_jobs_running",
        "onpyrunner_run_duration_seconds_count",
        "onpyrunner_queue_wait_seconds_count",
    ):
        assert name in after


def test_openapi_docs_are_served(api: Server) -> None:
    assert api.http.get("/docs").status_code == 200
    spec = api.http.get("/openapi.json").json()
    assert "/execute" in spec["paths"]
    assert "/jobs/{job_id}" in spec["paths"]


def test_no_input_gives_a_500(api: Server) -> None:
    odd_bodies = [
        b"[]",
        b"null",
        b"1",
        b'"x"',
        b'{"source_code": null}',
        b'{"source_code": "x", "limits": []}',
        b'{"source_code": "x", "checker": 5}',
        b'{"source_code": "x", "test_cases": [{"stdin": 1}]}',
        "\udcff".encode("utf-8", "surrogatepass"),
    ]
    for raw in odd_bodies:
        response = api.http.post(
            "/execute", content=raw, headers={"content-type": "application/json"}
        )
        assert response.status_code == 422, (raw, response.text)


def test_concurrent_waiters_each_get_their_own_job(api: Server) -> None:
    results: dict[int, httpx.Response] = {}

    def submit(i: int) -> None:
        results[i] = api.submit({"source_code": f"print({i})"}, wait="true")

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(results) == list(range(8))
    for i, response in results.items():
        assert response.status_code == 200
        assert response.json()["result"]["stdout"] == f"{i}\n"


def test_compiled_language_and_its_cache_through_the_api(api: Server) -> None:
    def hits(text: str) -> float:
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith('onpyrunner_compile_cache_total{result="hit"}')
        )

    token = uuid.uuid4().hex
    source = f'#include <stdio.h>\nint main(void) {{ puts("{token}"); return 0; }}\n'
    first = api.run({"language": "c", "source_code": source})
    before = hits(api.http.get("/metrics").text)
    second = api.run({"language": "c", "source_code": source})
    assert first["result"]["stdout"] == second["result"]["stdout"] == f"{token}\n"
    assert hits(api.http.get("/metrics").text) == before + 1
    broken = api.run({"language": "c", "source_code": "int main(void) { return x; }"})
    assert broken["status"] == "COMPLETED"
    assert broken["result"]["outcome"] == "COMPILE_ERROR"
    assert "main.c:" in broken["result"]["compile_output"]
