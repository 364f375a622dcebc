"""The Judge0-compatible API over raw HTTP, for what the SDK does not use: wait=true,
DELETE, fields, base64 edge cases, statuses, validation, batches, callbacks to a local
receiver, tokens and the root mount. Real servers on loopback; flows run on both backends.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from tests.api.conftest import BACKENDS, custom_server
from tests.service import Server

pytestmark = pytest.mark.sandbox

#: Judge0 1.13.1's submission attributes, in its order (fields=*).
ALL_FIELDS = [
    "source_code",
    "language_id",
    "stdin",
    "expected_output",
    "stdout",
    "status_id",
    "created_at",
    "finished_at",
    "time",
    "memory",
    "stderr",
    "token",
    "number_of_runs",
    "cpu_time_limit",
    "cpu_extra_time",
    "wall_time_limit",
    "memory_limit",
    "stack_limit",
    "max_processes_and_or_threads",
    "enable_per_process_and_thread_time_limit",
    "enable_per_process_and_thread_memory_limit",
    "max_file_size",
    "compile_output",
    "exit_code",
    "exit_signal",
    "message",
    "wall_time",
    "compiler_options",
    "command_line_arguments",
    "redirect_stderr_to_stdout",
    "callback_url",
    "additional_files",
    "enable_network",
    "status",
    "language",
]
DEFAULT_FIELDS = [
    "stdout",
    "time",
    "memory",
    "stderr",
    "token",
    "compile_output",
    "message",
    "status",
]
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def unb64(text: str) -> str:
    return base64.b64decode(text.replace("\n", "")).decode()


def run(api: Server, body: dict[str, Any], **params: str) -> dict[str, Any]:
    """POST /judge0/submissions?wait=true: the finished submission."""
    response = api.http.post(
        "/judge0/submissions", json={"language_id": 71, **body}, params={"wait": "true", **params}
    )
    assert response.status_code == 201, response.text
    found: dict[str, Any] = response.json()
    return found


def create(api: Server, body: dict[str, Any], **params: str) -> httpx.Response:
    return api.http.post("/judge0/submissions", json={"language_id": 71, **body}, params=params)


# --- wait, fields, formats -------------------------------------------------------------


def test_create_answers_201_with_a_uuid_token(api: Server) -> None:
    response = create(api, {"source_code": "print(1)"})
    assert response.status_code == 201
    assert list(response.json()) == ["token"]
    assert uuid.UUID(response.json()["token"]).version == 4


def test_wait_answers_201_with_the_default_fields(api: Server) -> None:
    body = run(api, {"source_code": "print(input())", "stdin": "hi"})
    assert list(body) == DEFAULT_FIELDS
    assert body["stdout"] == "hi\n"
    assert body["status"] == {"id": 3, "description": "Accepted"}
    assert re.fullmatch(r"\d+\.\d+", body["time"])
    assert isinstance(body["memory"], int) and body["memory"] > 0
    assert body["stderr"] is None and body["compile_output"] is None
    assert body["message"] is None


def test_fields_star_is_exactly_judge0s_set(api: Server) -> None:
    body = run(api, {"source_code": "print(7)", "expected_output": "7"}, fields="*")
    assert list(body) == ALL_FIELDS
    assert body["source_code"] == "print(7)" and body["expected_output"] == "7"
    assert body["stdin"] is None and body["callback_url"] is None
    assert body["language_id"] == 71
    assert body["language"]["id"] == 71
    assert body["language"]["name"].startswith("Python (3.")
    assert body["status_id"] == 3
    assert TIMESTAMP.match(body["created_at"]) and TIMESTAMP.match(body["finished_at"])
    assert body["created_at"] <= body["finished_at"]
    assert body["cpu_time_limit"] == "2.0" and body["wall_time_limit"] == "5.0"
    assert body["memory_limit"] == 128 * 1024
    assert body["number_of_runs"] == 1
    assert body["enable_network"] is False
    assert body["exit_code"] == 0 and body["exit_signal"] is None
    assert float(body["wall_time"]) >= 0


def test_fields_picks_and_orders_like_judge0(api: Server) -> None:
    token = create(api, {"source_code": "print(3)"}).json()["token"]
    run(api, {"source_code": "print(0)"})  # let the first one finish too
    deadline = time.monotonic() + 60
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        response = api.http.get(
            f"/judge0/submissions/{token}", params={"fields": "status,stdout,token"}
        )
        body = response.json()
        if body["status"]["id"] > 2:
            break
        time.sleep(0.05)  # polling is what a Judge0 client does
    assert list(body) == ["stdout", "token", "status"]
    assert body["stdout"] == "3\n"


def test_unknown_fields_are_400(api: Server) -> None:
    token = create(api, {"source_code": "print(1)"}).json()["token"]
    response = api.http.get(f"/judge0/submissions/{token}", params={"fields": "stdout,colour,x"})
    assert response.status_code == 400
    assert response.json() == {"error": "invalid fields: [colour, x]"}
    response = create(api, {"source_code": "print(1)"}, fields="nope")
    assert response.status_code == 400


def test_limits_are_taken_in_judge0_units(api: Server) -> None:
    body = run(
        api,
        {
            "source_code": "print(1)",
            "cpu_time_limit": 1.5,
            "wall_time_limit": "3",
            "memory_limit": 65536.0,
            "max_processes_and_or_threads": 8,
            "max_file_size": 100,
        },
        fields="cpu_time_limit,wall_time_limit,memory_limit,max_processes_and_or_threads,"
        "max_file_size,token",
    )
    assert body["cpu_time_limit"] == "1.5" and body["wall_time_limit"] == "3.0"
    assert body["memory_limit"] == 65536 and body["max_processes_and_or_threads"] == 8
    assert body["max_file_size"] == 100
    job = api.http.get(f"/jobs/{body['token']}").json()  # the same job, natively
    assert job["limits"]["cpu_time_ms"] == 1500 and job["limits"]["memory_mb"] == 64


# --- base64 -------------------------------------------------------------------------------


def test_base64_in_and_out_with_ruby_line_breaks(api: Server) -> None:
    source = "import sys\nprint(sys.stdin.read() * 3)\nprint('é' * 40, file=sys.stderr)\n"
    body = run(
        api,
        {"source_code": b64(source), "stdin": b64("abcdefghij" * 5)},
        base64_encoded="true",
    )
    stdout = body["stdout"]
    lines = stdout.split("\n")
    assert lines[-1] == "" and all(len(line) == 60 for line in lines[:-2])
    assert 0 < len(lines[-2]) <= 60
    assert unb64(stdout) == "abcdefghij" * 15 + "\n"
    assert unb64(body["stderr"]) == "é" * 40 + "\n"
    again = api.http.get(
        f"/judge0/submissions/{body['token']}",
        params={"base64_encoded": "true", "fields": "source_code,stdin"},
    ).json()
    assert unb64(again["source_code"]) == source and unb64(again["stdin"]) == "abcdefghij" * 5
    plain = api.http.get(f"/judge0/submissions/{body['token']}", params={"fields": "stdin"})
    assert plain.json() == {"stdin": "abcdefghij" * 5}


def test_base64_input_may_carry_line_breaks(api: Server) -> None:
    source = b"# a comment long enough to wrap the base64 text onto a second line\n"
    encoded = base64.encodebytes(source + b"print('wrapped' * 10)\n").decode()  # 76-char lines
    assert "\n" in encoded.strip()
    body = run(api, {"source_code": encoded}, base64_encoded="true")
    assert unb64(body["stdout"]) == "wrapped" * 10 + "\n"


def test_message_is_base64_too(api: Server) -> None:
    body = run(api, {"source_code": b64("raise SystemExit(3)")}, base64_encoded="true")
    assert body["status"]["id"] == 11
    assert body["message"] == "RXhpdGVkIHdpdGggZXJyb3Igc3RhdHVzIDM=\n"
    assert unb64(body["message"]) == "Exited with error status 3"


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("source_code", "print(1)", "not valid base64"),
        ("source_code", "cHJpbnQoMSk*", "not valid base64"),
        ("stdin", "a", "not valid base64"),
        ("expected_output", "!!!!", "not valid base64"),
        ("source_code", base64.b64encode(b"\xff\xfe print(1)").decode(), "not UTF-8"),
    ],
)
def test_invalid_base64_is_422_naming_the_field(
    memory_server: Server, field: str, value: str, words: str
) -> None:
    body = {"source_code": b64("print(1)"), field: value}
    response = create(memory_server, body, base64_encoded="true")
    assert response.status_code == 422, response.text
    assert list(response.json()) == [field]
    assert words in response.json()[field][0]


def test_without_base64_encoded_text_is_taken_as_is(memory_server: Server) -> None:
    body = run(memory_server, {"source_code": "print('cHJpbnQ=')"})
    assert body["stdout"] == "cHJpbnQ=\n"


# --- statuses -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "limits", "status", "message"),
    [
        (
            "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)",
            {},
            7,
            "Caught fatal signal 11",
        ),
        ("import os, signal; os.kill(os.getpid(), signal.SIGFPE)", {}, 9, "Caught fatal signal 8"),
        ("import os; os.abort()", {}, 10, "Caught fatal signal 6"),
        (
            "import os, signal; os.kill(os.getpid(), signal.SIGTERM)",
            {},
            12,
            "Caught fatal signal 15",
        ),
        ("import sys; sys.exit(2)", {}, 11, "Exited with error status 2"),
        (
            "import time; time.sleep(10)",
            {"wall_time_limit": 0.5},
            5,
            "Time limit exceeded (wall clock)",
        ),
        (  # a wall limit far away: the CPU limit is what stops it, however loaded the machine
            "while True: pass",
            {"cpu_time_limit": 0.3, "wall_time_limit": 30},
            5,
            "Time limit exceeded",
        ),
        ("print('x' * 100_000)", {}, 8, "Output limit exceeded (stdout or stderr over 64 KB)"),
        (
            "b = bytearray(200 * 1024 * 1024)",
            {"memory_limit": 32768},
            None,
            "Memory limit exceeded (32768 KB)",
        ),
    ],
)
def test_outcomes_map_onto_judge0_statuses(
    memory_server: Server, source: str, limits: dict[str, Any], status: int | None, message: str
) -> None:
    body = run(memory_server, {"source_code": source, **limits}, fields="status,message")
    assert body["message"] == message
    if status is None:  # memory: the runtime error the process showed
        assert body["status"]["id"] in (11, 12)
        assert body["status"]["description"].startswith("Runtime Error")
    else:
        assert body["status"]["id"] == status


def test_statuses_are_judge0s(memory_server: Server) -> None:
    statuses = memory_server.http.get("/judge0/statuses").json()
    assert [s["id"] for s in statuses] == list(range(1, 15))
    assert statuses[5] == {"id": 6, "description": "Compilation Error"}
    assert statuses[10] == {"id": 11, "description": "Runtime Error (NZEC)"}
    assert statuses[12] == {"id": 13, "description": "Internal Error"}


def test_expected_output_is_judged_like_judge0(api: Server) -> None:
    source = "print('a  ')\nprint('b')\nprint()\n"
    assert run(api, {"source_code": source, "expected_output": "a\nb"})["status"]["id"] == 3
    wrong = run(api, {"source_code": source, "expected_output": "a\nc\n"})
    assert wrong["status"] == {"id": 4, "description": "Wrong Answer"}
    assert wrong["stdout"] == "a  \nb\n\n"
    crashed = run(api, {"source_code": "1/0", "expected_output": "x"})
    assert crashed["status"]["id"] == 11


# --- validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "problems"),
    [
        ({"language_id": 71}, {"source_code": ["can't be blank"]}),
        ({"source_code": "x", "language_id": None}, {"language_id": ["can't be blank"]}),
        (
            {"source_code": "x", "language_id": 4242},
            {"language_id": ["language with id 4242 doesn't exist"]},
        ),
        (
            {"source_code": "x", "cpu_time_limit": 16},
            {"cpu_time_limit": ["must be less than or equal to 15"]},
        ),
        ({"source_code": "x", "cpu_time_limit": "soon"}, {"cpu_time_limit": ["is not a number"]}),
        ({"source_code": "x", "memory_limit": 0}, {"memory_limit": ["must be greater than 0"]}),
        (
            {"source_code": "x", "stack_limit": 128000},
            {"stack_limit": ["must be less than or equal to 65536"]},
        ),
        (
            {"source_code": "x", "number_of_runs": 3},
            {
                "number_of_runs": [
                    "must be less than or equal to 1 (OnPyRunner runs a submission once)"
                ]
            },
        ),
        (
            {"source_code": "x", "enable_network": True},
            {"enable_network": ["this option cannot be enabled (the sandbox has no network)"]},
        ),
        (
            {"source_code": "x", "redirect_stderr_to_stdout": "true"},
            {
                "redirect_stderr_to_stdout": [
                    "this option cannot be enabled (stdout and stderr are captured separately)"
                ]
            },
        ),
        (
            {"source_code": "x", "compiler_options": "-O3"},
            {
                "compiler_options": [
                    "setting compiler options is only allowed for compiled languages"
                ]
            },
        ),
        (
            {"source_code": "x", "command_line_arguments": "a 'b"},
            {"command_line_arguments": ["cannot be split into words: No closing quotation"]},
        ),
        (
            {"source_code": "x", "additional_files": "not base64!"},
            {"additional_files": ["is not valid base64"]},
        ),
        (
            {"source_code": "x", "enable_per_process_and_thread_time_limit": True},
            {
                "enable_per_process_and_thread_time_limit": [
                    "this option cannot be enabled (limits apply to the whole process tree)"
                ]
            },
        ),
        (
            {"source_code": "x" * (257 * 1024)},
            {"source_code": ["is larger than the server maximum of 262144 bytes"]},
        ),
    ],
)
def test_bad_submissions_are_422_by_field(
    memory_server: Server, body: dict[str, Any], problems: dict[str, list[str]]
) -> None:
    response = memory_server.http.post("/judge0/submissions", json={"language_id": 71, **body})
    assert response.status_code == 422, response.text
    assert response.json() == problems


def test_off_options_set_to_false_are_fine(memory_server: Server) -> None:
    body = {
        "source_code": "print(1)",
        "enable_network": False,
        "number_of_runs": 1,
        "redirect_stderr_to_stdout": False,
        "compiler_options": "",
        "cpu_extra_time": 0.5,
        "stack_limit": 64000,
        "enable_per_process_and_thread_memory_limit": False,
    }
    assert run(memory_server, body)["stdout"] == "1\n"


def test_malformed_json_is_400(memory_server: Server) -> None:
    response = memory_server.http.post(
        "/judge0/submissions",
        content=b'{"source_code": ',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    assert "JSON" in response.json()["error"]


# --- batches ------------------------------------------------------------------------------


def test_batch_answers_each_submission_in_order(api: Server) -> None:
    response = api.http.post(
        "/judge0/submissions/batch",
        json={
            "submissions": [
                {"source_code": "print('one')", "language_id": 71},
                {"language_id": 71},
                {"source_code": b64("print('three')"), "language_id": 71},
            ]
        },
        params={"base64_encoded": "true"},
    )
    assert response.status_code == 201
    answers = response.json()
    assert answers[1] == {"source_code": ["can't be blank"]}
    assert list(answers[0]) == ["source_code"]  # not base64: "(" and "'"
    assert answers[0]["source_code"][0].startswith("is not valid base64")
    token = answers[2]["token"]
    deadline = time.monotonic() + 60
    found: list[Any] = []
    while time.monotonic() < deadline:
        found = api.http.get(
            "/judge0/submissions/batch",
            params={"tokens": f"{token},{uuid.uuid4()}", "base64_encoded": "true"},
        ).json()["submissions"]
        if found[0]["status"]["id"] > 2:
            break
        time.sleep(0.05)  # polling is what a Judge0 client does
    assert unb64(found[0]["stdout"]) == "three\n"
    assert found[1] is None


def test_batch_of_only_bad_submissions_is_422(memory_server: Server) -> None:
    response = memory_server.http.post(
        "/judge0/submissions/batch", json={"submissions": [{"language_id": 71}]}
    )
    assert response.status_code == 422
    assert response.json() == [{"source_code": ["can't be blank"]}]


def test_batch_sizes_are_bounded(memory_server: Server) -> None:
    one = {"source_code": "print(1)", "language_id": 71}
    http = memory_server.http
    too_many = http.post("/judge0/submissions/batch", json={"submissions": [one] * 21})
    assert too_many.status_code == 400
    assert "less than or equal to 20" in too_many.json()["error"]
    none = http.post("/judge0/submissions/batch", json={"submissions": []})
    assert none.status_code == 400
    assert http.get("/judge0/submissions/batch", params={"tokens": ""}).status_code == 400
    tokens = ",".join(str(uuid.uuid4()) for _ in range(21))
    assert http.get("/judge0/submissions/batch", params={"tokens": tokens}).status_code == 400


# --- delete, queue, pending ---------------------------------------------------------------


def test_delete_removes_a_finished_submission(api: Server) -> None:
    token = run(api, {"source_code": "print('bye')"})["token"]
    response = api.http.delete(f"/judge0/submissions/{token}", params={"fields": "stdout,token"})
    assert response.status_code == 200
    assert response.json() == {"stdout": b64("bye\n") + "\n", "token": token}  # always base64
    assert api.http.get(f"/judge0/submissions/{token}").status_code == 404
    assert api.http.get(f"/jobs/{token}").status_code == 404
    assert api.http.delete(f"/judge0/submissions/{token}").status_code == 404


@pytest.fixture(scope="module")
def idle() -> Iterator[Server]:
    """A server with no worker: submissions stay in the queue."""
    with custom_server("memory", workers=0, max_pending_jobs="2") as s:
        yield s


def test_a_queued_submission_is_in_queue_and_cannot_be_deleted(idle: Server) -> None:
    token = create(idle, {"source_code": "print(1)"}).json()["token"]
    body = idle.http.get(f"/judge0/submissions/{token}", params={"fields": "*"}).json()
    assert body["status"] == {"id": 1, "description": "In Queue"}
    assert body["finished_at"] is None and body["time"] is None
    response = idle.http.delete(f"/judge0/submissions/{token}")
    assert response.status_code == 400
    assert response.json() == {
        "error": "submission cannot be deleted because its status is 1 (In Queue)"
    }
    assert idle.http.delete(f"/jobs/{token}").status_code == 200  # native cancel still works
    body = idle.http.get(f"/judge0/submissions/{token}", params={"fields": "status,message"})
    assert body.json()["status"]["id"] == 13


def test_full_queue_is_503_queue_is_full(idle: Server) -> None:
    statuses = [create(idle, {"source_code": "print(1)"}).status_code for _ in range(3)]
    assert statuses[-1] == 503
    response = create(idle, {"source_code": "print(1)"})
    assert response.status_code == 503
    assert response.json() == {"error": "queue is full"}
    batch = idle.http.post(
        "/judge0/submissions/batch", json={"submissions": [{"source_code": "x", "language_id": 71}]}
    )
    assert batch.status_code == 503 and batch.json() == {"error": "queue is full"}


# --- system endpoints ---------------------------------------------------------------------


def test_languages_are_the_live_runtimes_under_judge0_ids(api: Server) -> None:
    languages = api.http.get("/judge0/languages").json()
    assert any(lang["id"] == 71 and lang["name"].startswith("Python (3.") for lang in languages)
    python = api.http.get("/judge0/languages/71").json()
    assert python["name"].startswith("Python (3.") and python["source_file"] == "main.py"
    assert python["is_archived"] is False and python["compile_cmd"] is None
    live = {lang["id"] for lang in api.http.get("/languages").json()}
    ids = {lang["id"] for lang in languages}
    assert (50 in ids) == ("c" in live) and (54 in ids) == ("cpp" in live)
    assert api.http.get("/judge0/languages/70").status_code == 404  # Python 2: not here


def test_about_config_workers_and_system(api: Server) -> None:
    http = api.http
    assert http.get("/judge0/about").json()["version"] == "1.13.1"
    assert http.get("/judge0/version").text == "1.13.1"
    config = http.get("/judge0/config_info").json()
    assert config["cpu_time_limit"] == 2.0 and config["max_cpu_time_limit"] == 15.0
    assert config["memory_limit"] == 131072 and config["max_submission_batch_size"] == 20
    assert config["allow_enable_network"] is False and config["enable_network"] is False
    workers = http.get("/judge0/workers").json()
    assert workers[0]["queue"] == "1.13.1" and workers[0]["available"] >= 1
    assert "Architecture" in http.get("/judge0/system_info").json()


# --- callbacks ----------------------------------------------------------------------------


class Receiver:
    """A local HTTP server on 127.0.0.1 that records the callbacks PUT to it."""

    def __init__(self, answers: list[int] | None = None) -> None:
        self.calls: list[tuple[str, dict[str, str], bytes]] = []
        self.answers = list(answers or [])
        self.changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                with receiver.changed:
                    receiver.calls.append(
                        (self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                    )
                    code = receiver.answers.pop(0) if receiver.answers else 200
                    receiver.changed.notify_all()
                self.send_response(code)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait_for(
        self, count: int, timeout_s: float = 60
    ) -> list[tuple[str, dict[str, str], bytes]]:
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.calls) >= count, timeout_s), self.calls
            return list(self.calls)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    try:
        yield r
    finally:
        r.close()


@pytest.fixture(scope="module", params=BACKENDS)
def calling(request: pytest.FixtureRequest) -> Iterator[Server]:
    """A server that may call back to loopback (the setting tests need)."""
    with custom_server(str(request.param), judge0_allow_internal_callbacks="true") as s:
        yield s


def test_callback_puts_the_finished_submission(calling: Server, receiver: Receiver) -> None:
    url = f"{receiver.url}/done?ref=42"
    token = create(calling, {"source_code": "print('called back')", "callback_url": url})
    path, headers, raw = receiver.wait_for(1)[0]
    assert path == "/done?ref=42"
    assert headers["content-type"] == "application/json"
    assert headers["host"] == receiver.url.removeprefix("http://")
    body = json.loads(raw)
    assert sorted(body) == sorted(DEFAULT_FIELDS)
    assert body["token"] == token.json()["token"]
    assert body["status"] == {"id": 3, "description": "Accepted"}
    assert unb64(body["stdout"]) == "called back\n"  # callbacks are always base64


def test_callback_retries_a_failing_receiver(calling: Server) -> None:
    failing = Receiver(answers=[500, 503])
    try:
        create(calling, {"source_code": "print(1)", "callback_url": failing.url})
        calls = failing.wait_for(3)
        assert len({json.loads(body)["token"] for _, _, body in calls}) == 1
    finally:
        failing.close()


def test_callback_of_a_batch_and_of_a_waited_submission(
    calling: Server, receiver: Receiver
) -> None:
    calling.http.post(
        "/judge0/submissions/batch",
        json={
            "submissions": [
                {"source_code": "print(1)", "language_id": 71, "callback_url": receiver.url},
                {"source_code": "print(2)", "language_id": 71, "callback_url": receiver.url},
            ]
        },
    )
    run(calling, {"source_code": "print(3)", "callback_url": receiver.url})
    calls = receiver.wait_for(3)
    assert sorted(unb64(json.loads(body)["stdout"]) for _, _, body in calls) == [
        "1\n",
        "2\n",
        "3\n",
    ]


@pytest.mark.parametrize(
    "url",
    [
        # Only addresses of this machine: should the check ever be broken, the server's
        # callback would still go nowhere else. The private, link-local and metadata
        # ranges are refused by the same check: see test_judge0_units.py.
        "http://127.0.0.1:9/x",
        "http://localhost:9/x",
        "http://[::1]:9/",
        "http://127.1.2.3:9/",
        "http://0.0.0.0:9/",
        "http://[::ffff:127.0.0.1]:9/",
        "http://0x7f000001:9/",
        "ftp://127.0.0.1/",
        "not a url",
    ],
)
def test_internal_callback_urls_are_refused_without_the_setting(api: Server, url: str) -> None:
    response = create(api, {"source_code": "print(1)", "callback_url": url})
    assert response.status_code == 422, response.text
    assert list(response.json()) == ["callback_url"]


# --- tokens and the root mount ------------------------------------------------------------

TOKEN = "judge0-test-token"


@pytest.fixture(scope="module")
def secured() -> Iterator[Server]:
    """Tokens on, and the Judge0 API also at the root."""
    with custom_server("memory", auth_tokens=f"other-token {TOKEN}", judge0_at_root="true") as s:
        yield s


def test_without_a_token_everything_but_health_is_401(secured: Server) -> None:
    http = secured.http
    for method, path in [
        ("GET", "/judge0/about"),
        ("POST", "/judge0/submissions"),
        ("POST", "/execute"),
        ("GET", "/jobs/x"),
        ("GET", "/metrics"),
        ("GET", "/languages"),
        ("GET", "/openapi.json"),
        ("GET", "/about"),
    ]:
        response = http.request(method, path)
        assert response.status_code == 401, (path, response.text)
        assert response.headers["www-authenticate"].startswith("Bearer")
    wrong = http.get("/judge0/about", headers={"X-Auth-Token": "judge0-test-tokeN"})
    assert wrong.status_code == 401
    assert http.get("/health").status_code == 200


def test_a_token_opens_both_apis(secured: Server) -> None:
    http = secured.http
    header = {"X-Auth-Token": TOKEN}
    assert http.get("/judge0/about", headers=header).status_code == 200
    assert http.get("/judge0/about", params={"X-Auth-Token": TOKEN}).status_code == 200
    assert http.post("/judge0/authenticate", headers=header).status_code == 200
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    job = http.post(
        "/execute", json={"source_code": "print(5)"}, params={"wait": "true"}, headers=bearer
    ).json()
    assert job["result"]["stdout"] == "5\n"
    assert http.get(f"/jobs/{job['job_id']}", headers=header).status_code == 200
    assert http.get("/metrics", headers={"Authorization": "Bearer other-token"}).status_code == 200


def test_websocket_needs_the_token(secured: Server) -> None:
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    job_id = secured.http.post("/execute", json={"source_code": "print(1)"}, headers=bearer)
    ws_url = secured.url.replace("http", "ws") + f"/jobs/{job_id.json()['job_id']}/events"
    with pytest.raises(Exception, match="401"):
        with connect(ws_url, open_timeout=10):
            pass
    with connect(f"{ws_url}?X-Auth-Token={TOKEN}", open_timeout=10) as ws:
        assert "status" in json.loads(ws.recv(timeout=30))


def test_the_root_mount_answers_as_judge0(secured: Server) -> None:
    header = {"X-Auth-Token": TOKEN}
    assert secured.http.get("/about", headers=header).json()["version"] == "1.13.1"
    languages = secured.http.get("/languages", headers=header).json()
    assert 71 in [lang["id"] for lang in languages]  # Judge0's shape wins at the root
    body = secured.http.post(
        "/submissions",
        params={"wait": "true"},
        headers=header,
        json={"source_code": "print(9)", "language_id": 71},
    )
    assert body.json()["stdout"] == "9\n"
