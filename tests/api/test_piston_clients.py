"""Real Piston clients, unchanged, against a real server on loopback, on both backends:
the PyPI package aiopyston (the /api/v2/piston/ prefix of the public instance), the npm
package piston-client run with Node.js (the /api/v2/ prefix of a self-hosted Piston),
and WS /connect driven by a plain WebSocket client through a whole interactive exchange."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import uuid
from typing import Any

import pytest
from pyston import File, PystonClient
from pyston.exceptions import ExecutionError
from websockets.sync.client import ClientConnection, connect

from tests.service import ROOT, Server
from tests.toolchains import need_offered

pytestmark = [
    pytest.mark.sandbox,
    # aiopyston builds its aiohttp connector with the deprecated verify_ssl argument
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]

PATIENCE_S = 60.0
NODE_CLIENT = ROOT / "tests" / "node" / "piston_client.mjs"
CPP = '#include <iostream>\nint main() { std::string s; std::cin >> s; std::cout << s << "!\\n"; }'


# --- aiopyston (PyPI) -------------------------------------------------------------------


async def test_aiopyston_lists_runtimes_and_runs_python_and_cpp(api: Server) -> None:
    client = PystonClient(base_url=f"{api.url}/api/v2/piston/")
    try:
        runtimes = await client.runtimes()
        python = next(r for r in runtimes if r.language == "python")
        assert "py" in python.aliases and python.version.startswith("3.")
        assert {r.language for r in await client.get_runtimes("c++")} == {"c++"}
        assert "python" in await client.languages()

        out = await client.execute("py", [File("print(input() * 2)")], stdin="ab")
        assert out.run_stage.stdout == "abab\n" and out.run_stage.code == 0
        assert out.version == python.version and out.compile_stage is None

        out = await client.execute("c++", [File(CPP, "main.cpp")], stdin="hi")
        assert out.compile_stage is not None and out.compile_stage.code == 0
        assert out.run_stage.output == "hi!\n"
    finally:
        await client.close_session()


async def test_aiopyston_compile_error_tle_args_and_files(api: Server) -> None:
    client = PystonClient(base_url=f"{api.url}/api/v2/piston/")
    try:
        out = await client.execute("cpp", [File("int main() { return x; }")])
        assert out.compile_stage.code != 0 and "error" in out.compile_stage.output
        assert out.raw_json["run"] == out.raw_json["compile"]

        out = await client.execute("python", [File("while True: pass")], run_timeout=1000)
        assert out.raw_json["run"]["status"] == "TO"
        assert out.run_stage.signal == "SIGKILL"

        code = "import sys\nprint(sys.argv[1:], open('data.txt').read())"
        files = [File(code, "main.py"), File("hello", "data.txt")]
        out = await client.execute("python", files, args=["a", "b c"])
        assert out.run_stage.stdout == "['a', 'b c'] hello\n"

        with pytest.raises(ExecutionError, match="cobol-\\* runtime is unknown"):
            await client.execute("cobol", [File("x")])
        with pytest.raises(ExecutionError, match="run_timeout cannot exceed"):
            await client.execute("python", [File("x")], run_timeout=10**9)
    finally:
        await client.close_session()


async def test_aiopyston_compile_timeout_stops_the_compile_and_a_compile_has_its_time(
    api: Server,
) -> None:
    # every standard header: far longer than 50 ms to compile anywhere; new each time
    token = uuid.uuid4().hex
    slow = f'#include <bits/stdc++.h>\nint main() {{ std::cout << "{token}"; }}\n'
    client = PystonClient(base_url=f"{api.url}/api/v2/piston/")
    try:
        out = await client.execute("c++", [File(slow, "main.cpp")], compile_timeout=50)
        stopped = out.raw_json["compile"]
        assert (stopped["status"], stopped["signal"]) == ("TO", "SIGKILL"), stopped
        assert stopped["message"].startswith("compilation stopped: over its time limit")
        assert out.raw_json["run"] == stopped

        out = await client.execute("c++", [File(slow, "main.cpp")])  # its 10 s default
        compiled = out.raw_json["compile"]
        assert compiled["code"] == 0 and compiled["status"] is None, compiled
        assert compiled["wall_time"] > 50
        assert out.run_stage.stdout == token

        with pytest.raises(ExecutionError, match="compile_timeout cannot exceed the configured"):
            await client.execute("c++", [File(slow, "main.cpp")], compile_timeout=10**9)
    finally:
        await client.close_session()


async def test_aiopyston_runs_the_scientific_profile_under_its_own_name(api: Server) -> None:
    client = PystonClient(base_url=f"{api.url}/api/v2/piston/")
    try:
        runtimes = {r.language: r for r in await client.runtimes()}
        need_offered("python-sci" in runtimes, "python-sci")
        assert runtimes["python-sci"].aliases == ["py-sci"]
        code = "import numpy as np\nprint(int(np.arange(5).sum()))"
        out = await client.execute("py-sci", [File(code)])
        assert out.raw_json["language"] == "python-sci" and out.run_stage.stdout == "10\n"
    finally:
        await client.close_session()


# --- piston-client (npm) -------------------------------------------------------------------


def node_client(api: Server, calls: list[dict[str, Any]]) -> list[Any]:
    """The npm client's answers to calls, run by Node.js against api's /api/v2/."""
    node = shutil.which("node")
    assert node is not None, "Node.js is needed (scripts/test installs it)"
    done = subprocess.run(
        [node, str(NODE_CLIENT), api.url],
        input=json.dumps(calls),
        capture_output=True,
        text=True,
        timeout=PATIENCE_S * 2,
        check=True,
    )
    answers: list[Any] = json.loads(done.stdout)
    return answers


def test_piston_client_runs_every_kind_of_program(api: Server) -> None:
    answers = node_client(
        api,
        [
            {"method": "runtimes"},
            {"method": "execute", "args": ["python", "print(input())", {"stdin": "hi"}]},
            {"method": "execute", "args": ["python", "import sys; print(sys.argv[1:])"]},
            {"method": "execute", "args": ["c++", CPP, {"stdin": "yo"}]},
            {"method": "execute", "args": ["c++", "int main() { return x; }"]},
            {
                "method": "execute",
                "args": ["python", "while True: pass", {"runTimeout": 1000}],
            },
            {
                "method": "execute",
                "args": [
                    "python",
                    {
                        "files": [
                            {"name": "main.py", "content": "print(open('d.txt').read())"},
                            {"name": "d.txt", "content": "data"},
                        ]
                    },
                ],
            },
        ],
    )
    runtimes, stdin, args, cpp, compile_error, tle, files = answers
    assert {"language": "python", "aliases": ["py", "py3", "python3"]}.items() <= next(
        r for r in runtimes if r["language"] == "python"
    ).items()
    assert stdin["run"]["stdout"] == "hi\n"
    assert args["run"]["stdout"] == "['1', '2', '3']\n"  # the client's default args
    assert cpp["compile"]["code"] == 0 and cpp["run"]["stdout"] == "yo!\n"
    assert compile_error["compile"]["code"] != 0 and compile_error["run"]["status"] == "RE"
    assert (tle["run"]["status"], tle["run"]["signal"]) == ("TO", "SIGKILL")
    assert files["run"]["stdout"] == "data\n"


# --- WS /connect (a plain WebSocket client) -------------------------------------------------


def received(
    ws: ClientConnection, messages: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """Every message until the server closes (appended to messages, which keeps them when
    the patience runs out); the close code last as {"close": code}."""
    messages = [] if messages is None else messages
    deadline = time.monotonic() + PATIENCE_S
    while True:
        try:
            messages.append(json.loads(ws.recv(timeout=deadline - time.monotonic())))
        except Exception as e:
            if type(e).__name__.startswith("ConnectionClosed"):
                messages.append({"close": ws.close_code, "reason": ws.close_reason})
                return messages
            raise


def until(ws: ClientConnection, seen: list[dict[str, Any]], done: Any) -> None:
    deadline = time.monotonic() + PATIENCE_S
    while not done(seen):
        seen.append(json.loads(ws.recv(timeout=deadline - time.monotonic())))


def test_connect_runs_a_whole_interactive_exchange(api: Server) -> None:
    url = api.url.replace("http", "ws") + "/api/v2/connect"
    code = "name = input('name? ')\nprint('hello', name)\nimport sys\nprint('bye', file=sys.stderr)"
    with connect(url, open_timeout=10) as ws:
        ws.send(
            json.dumps(
                {
                    "type": "init",
                    "language": "python",
                    "version": "3.x",
                    "files": [{"content": code}],
                }
            )
        )  # fmt: one message
        seen: list[dict[str, Any]] = []
        until(ws, seen, lambda s: any(m.get("data") == "name? " for m in s))
        ws.send(json.dumps({"type": "data", "stream": "stdin", "data": "Ada\n"}))
        seen += received(ws)
    assert seen[0] == {"type": "runtime", "language": "python", "version": seen[0]["version"]}
    assert seen[1] == {"type": "stage", "stage": "run"}
    data = {
        s: "".join(m["data"] for m in seen if m.get("stream") == s) for s in ("stdout", "stderr")
    }
    assert data == {"stdout": "name? hello Ada\n", "stderr": "bye\n"}
    assert seen[-2] == {"type": "exit", "stage": "run", "code": 0, "signal": None}
    assert seen[-1] == {"close": 4999, "reason": "Job Completed"}


def test_connect_compiles_first_and_takes_signals(api: Server) -> None:
    url = api.url.replace("http", "ws") + "/api/v2/piston/connect"
    code = '#include <cstdio>\n#include <unistd.h>\nint main(){puts("up");fflush(stdout);pause();}'
    with connect(url, open_timeout=10) as ws:
        ws.send(
            json.dumps(
                {"type": "init", "language": "c++", "version": "*", "files": [{"content": code}]}
            )
        )
        seen: list[dict[str, Any]] = []
        until(ws, seen, lambda s: any(m.get("data") == "up\n" for m in s))
        ws.send(json.dumps({"type": "signal", "signal": "SIGTERM"}))
        try:
            received(ws, seen)
        except TimeoutError:  # say what came, and what the server said
            said = [line for line in api.lines[-2000:] if "SIGTERM" in line or "ERROR" in line]
            raise AssertionError(f"no end after SIGTERM; seen {seen}; the server: {said}") from None
    kinds = [(m.get("type"), m.get("stage")) for m in seen if m.get("type") in ("stage", "exit")]
    assert kinds == [("stage", "compile"), ("exit", "compile"), ("stage", "run"), ("exit", "run")]
    assert seen[-2] == {"type": "exit", "stage": "run", "code": None, "signal": "SIGTERM"}
    assert seen[-1]["close"] == 4999


@pytest.mark.parametrize(
    ("messages", "close"),
    [
        ([], (4001, "Initialization Timeout")),
        ([{"type": "data", "stream": "stdin", "data": "x"}], (4003, "Not yet Initialized")),
        (
            [{"type": "init", "language": "cobol", "version": "*", "files": [{"content": "x"}]}],
            (4002, "Notified Error"),
        ),
    ],
)
def test_connect_closes_with_piston_codes(
    api: Server, messages: list[dict[str, Any]], close: tuple[int, str]
) -> None:
    url = api.url.replace("http", "ws") + "/api/v2/connect"
    with connect(url, open_timeout=10) as ws:
        for message in messages:
            ws.send(json.dumps(message))
        seen = received(ws)
    assert (seen[-1]["close"], seen[-1]["reason"]) == close
    if close[0] == 4002:
        assert seen[0] == {"type": "error", "message": "cobol-* runtime is unknown"}


def test_connect_refuses_what_piston_refuses_once_initialized(api: Server) -> None:
    url = api.url.replace("http", "ws") + "/api/v2/connect"
    init = {"type": "init", "language": "python", "version": "*", "files": [{"content": "input()"}]}
    for bad, close in (
        ({"type": "data", "stream": "stdout", "data": "x"}, 4004),
        ({"type": "signal", "signal": "SIGNOPE"}, 4005),
        (init, 4000),
    ):
        with connect(url, open_timeout=10) as ws:
            ws.send(json.dumps(init))
            seen: list[dict[str, Any]] = []
            until(ws, seen, lambda s: any(m.get("type") == "runtime" for m in s))
            ws.send(json.dumps(bad))
            assert received(ws)[-1]["close"] == close
