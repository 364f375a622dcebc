"""Live sessions and streamed output against a real server, on both backends: a real
sandbox, the session WebSocket driven like a person at a terminal, the events
WebSocket's `stream` option."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from websockets.sync.client import ClientConnection, connect

from tests.api.conftest import custom_server
from tests.service import Server

pytestmark = pytest.mark.sandbox

PATIENCE_S = 60.0
GREET = 'name = input("What is your name? ")\nprint(f"Hello, {name}!")\n'


def ws_url(api: Server, path: str) -> str:
    return api.url.replace("http", "ws") + path


class Session:
    """A client of WS /jobs/{id}/session: what it received, kept in order."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.messages: list[dict[str, Any]] = []

    def send(self, message: dict[str, Any]) -> None:
        self.ws.send(json.dumps(message))

    def until(self, done: Any) -> dict[str, Any]:
        """Receive until a message satisfies done; that message."""
        deadline = time.monotonic() + PATIENCE_S
        while True:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"not received: {self.messages}"
            message: dict[str, Any] = json.loads(self.ws.recv(timeout=remaining))
            self.messages.append(message)
            if done(message):
                return message

    def output(self, kind: str = "stdout") -> str:
        return "".join(m["data"] for m in self.messages if m.get("type") == kind)

    def until_output(self, text: str) -> None:
        self.until(lambda m: text in self.output())

    def finished(self) -> dict[str, Any]:
        """The finished job (the last message), then the close."""
        last = self.until(
            lambda m: (
                m.get("type") == "job"
                and m["job"]["status"] in ("COMPLETED", "FAILED", "CANCELLED")
            )
        )
        with pytest.raises(Exception, match="1000"):
            self.ws.recv(timeout=PATIENCE_S)
        job: dict[str, Any] = last["job"]
        return job


@contextmanager
def session(api: Server, body: dict[str, Any]) -> Iterator[Session]:
    response = api.submit({"interactive": True, **body})
    assert response.status_code == 202, response.text
    job_id = response.json()["job_id"]
    with connect(ws_url(api, f"/jobs/{job_id}/session"), open_timeout=10) as ws:
        yield Session(ws)


def test_a_program_asks_for_a_name_and_greets_the_person(api: Server) -> None:
    with session(api, {"source_code": GREET}) as s:
        s.until_output("What is your name? ")
        assert any(m.get("type") == "started" for m in s.messages)
        s.send({"type": "stdin", "data": "Ada\n"})
        s.until_output("Hello, Ada!\n")
        job = s.finished()
    assert job["result"]["outcome"] == "SUCCESS"
    assert job["result"]["stdout"] == "What is your name? Hello, Ada!\n"
    assert job["limits"]["wall_time_ms"] == 60000  # an interactive job's own default
    statuses = [m["job"]["status"] for m in s.messages if m.get("type") == "job"]
    assert statuses[-1] == "COMPLETED" and "RUNNING" in statuses


def test_a_conversation_of_many_lines_and_the_end_of_input(api: Server) -> None:
    code = "import sys\nfor line in sys.stdin:\n    print(int(line) * 2, flush=True)\nprint('eof')"
    with session(api, {"source_code": code, "stdin": "1\n"}) as s:
        s.until_output("2\n")  # the request's stdin comes first
        for n in range(2, 6):
            s.send({"type": "stdin", "data": f"{n}\n"})
            s.until_output(f"{n * 2}\n")
        s.send({"type": "close_stdin"})
        job = s.finished()
    assert job["result"]["stdout"] == "2\n4\n6\n8\n10\neof\n"


def test_a_signal_reaches_the_program(api: Server) -> None:
    # A loop, not one blocking input(): a signal that lands between Python's check for
    # pending signals and its next read() would wait for that read to end.
    code = (
        "import time\ntry:\n    print('ready', end='', flush=True)\n    while True:\n"
        "        time.sleep(0.05)\nexcept KeyboardInterrupt:\n    print('interrupted')\n"
    )
    with session(api, {"source_code": code}) as s:
        s.until_output("ready")  # Python handles SIGINT from here on
        s.send({"type": "signal", "signal": "SIGINT"})
        job = s.finished()
    assert job["result"]["stdout"] == "readyinterrupted\n"


def test_a_message_the_server_cannot_take_is_answered_and_the_session_goes_on(
    api: Server,
) -> None:
    with session(api, {"source_code": GREET}) as s:
        for bad in ({"type": "stdout", "data": "x"}, {"type": "signal", "signal": "SIGHUP"}):
            s.send(bad)
            error = s.until(lambda m: m.get("type") == "error")
            assert '"type"' in error["error"] or "SIGINT" in error["error"]
        s.ws.send("not json")
        s.until(lambda m: m.get("type") == "error" and "not JSON" in m["error"])
        s.send({"type": "stdin", "data": "Bo\n"})
        assert s.finished()["result"]["stdout"].endswith("Hello, Bo!\n")


def test_the_output_limit_still_ends_a_session(api: Server) -> None:
    code = "while True:\n    print('x' * 1000)\n"
    with session(api, {"source_code": code, "limits": {"output_kb": 8}}) as s:
        job = s.finished()
    assert job["result"]["outcome"] == "OUTPUT_LIMIT_EXCEEDED"
    assert len(s.output()) <= 8 * 1024


def test_a_session_of_a_job_that_is_not_interactive_is_refused(api: Server) -> None:
    job_id = api.submit({"source_code": "print(1)"}).json()["job_id"]
    with connect(ws_url(api, f"/jobs/{job_id}/session"), open_timeout=10) as ws:
        assert "not interactive" in json.loads(ws.recv(timeout=PATIENCE_S))["error"]
        with pytest.raises(Exception, match="4409"):
            ws.recv(timeout=PATIENCE_S)


def test_interactive_is_for_plain_runs_only(api: Server) -> None:
    body = {
        "source_code": "print(1)",
        "interactive": True,
        "test_cases": [{"stdin": "", "expected_stdout": "1"}],
    }
    response = api.submit(body)
    assert response.status_code == 422
    assert response.json()["error"].startswith("interactive: is for plain runs only")


def test_streamed_output_comes_on_the_events_websocket_before_the_end(api: Server) -> None:
    code = "for i in range(3):\n    print(i, flush=True)\nimport sys\nsys.stderr.write('e')\n"
    job_id = api.submit({"source_code": code, "stream": True}).json()["job_id"]
    messages = api.events(job_id)
    chunks = [m for m in messages if "type" in m]
    assert "".join(m["data"] for m in chunks if m["type"] == "stdout") == "0\n1\n2\n"
    assert "".join(m["data"] for m in chunks if m["type"] == "stderr") == "e"
    assert messages[-1]["status"] == "COMPLETED"
    assert messages.index(chunks[-1]) < len(messages) - 1


def test_interleaved_output_in_the_result(api: Server) -> None:
    code = "import sys\nprint('a', flush=True)\nprint('b', file=sys.stderr, flush=True)\nprint('c')"
    job = api.run({"source_code": code, "interleave_output": True})
    # In the order the host read two pipes: writes close together may come either way.
    assert sorted(job["result"]["output"].splitlines(keepends=True)) == ["a\n", "b\n", "c\n"]
    assert job["result"]["stdout"] == "a\nc\n" and job["result"]["stderr"] == "b\n"


def test_a_session_no_client_attaches_to_is_cancelled_as_idle(backend: str) -> None:
    with custom_server(backend, workers=1, session_idle_s="1") as api:
        job_id = api.submit({"source_code": "input()", "interactive": True}).json()["job_id"]
        job = api.wait_until(job_id, {"COMPLETED", "FAILED", "CANCELLED"})
    assert job["status"] == "CANCELLED"
    assert job["error"] == "the session was idle: no client attached for 1 s"
