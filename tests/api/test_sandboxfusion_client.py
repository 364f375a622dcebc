"""The official SandboxFusion client (PyPI sandbox-fusion), unchanged, and the exact body
verl posts, against a real server on loopback, on both backends: at the root and under the
prefix."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import httpx
import pytest
from sandbox_fusion import (
    RunCodeRequest,
    RunCodeResponse,
    SummaryMapping,
    run_code,
    summary_run_code_result,
)

from tests.api.conftest import custom_server
from tests.service import Server
from tests.toolchains import need_offered

pytestmark = pytest.mark.sandbox

CPP = "#include <iostream>\nint main() { std::string s; std::cin >> s; std::cout << s << '!'; }\n"
MAPPING = SummaryMapping(
    Success="ok",
    Failed="failed",
    CompileFailed="compile failed",
    CompileTimeout="compile timeout",
    RunFailed="run failed",
    RunTimeout="run timeout",
)


def fusion(api: Server, prefix: str = "", **fields: Any) -> RunCodeResponse:
    """run_code through the client, with no retry (a refusal must show at once)."""
    return run_code(RunCodeRequest(**fields), endpoint=api.url + prefix, max_attempts=1)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_ping_answers_pong_at_the_root_and_under_the_prefix(api: Server) -> None:
    for path in ("/v1/ping", "/sandboxfusion/v1/ping"):
        response = api.http.get(path)
        assert response.status_code == 200 and response.json() == "pong"


def test_python_with_stdin_succeeds(api: Server) -> None:
    got = fusion(api, code="print(input() * 2)", stdin="ab\n", language="python")
    assert got.status == "Success" and got.message == ""
    assert got.compile_result is None and got.executor_pod_name is None
    run = got.run_result
    assert run is not None and run.status == "Finished" and run.return_code == 0
    assert run.stdout == "abab\n" and run.stderr == ""
    assert isinstance(run.execution_time, float) and 0 < run.execution_time < 10
    assert summary_run_code_result(got, MAPPING) == "ok"


def test_cpp_compiles_and_runs_under_the_prefix(api: Server) -> None:
    got = fusion(api, "/sandboxfusion", code=CPP, stdin="hi", language="cpp")
    assert got.status == "Success", got
    assert got.compile_result is not None
    assert got.compile_result.status == "Finished" and got.compile_result.return_code == 0
    assert got.run_result is not None and got.run_result.stdout == "hi!"


def test_a_compile_error_has_its_code_and_no_run(api: Server) -> None:
    got = fusion(api, code="int main() { return x; }", language="cpp")
    assert got.status == "Failed" and got.run_result is None
    compiled = got.compile_result
    assert compiled is not None and compiled.status == "Finished"
    assert compiled.return_code not in (0, None)
    assert compiled.stderr is not None and "error" in compiled.stderr
    assert summary_run_code_result(got, MAPPING) == "compile failed"


def slow_cpp() -> str:
    """A C++ program whose compile takes far longer than 50 ms anywhere (every standard
    header), new each time: never in the compile cache yet."""
    token = uuid.uuid4().hex
    return f'#include <bits/stdc++.h>\nint main() {{ std::cout << "{token}"; }}\n'


def test_compile_timeout_stops_the_compile_and_a_compile_reports_its_time(api: Server) -> None:
    code = slow_cpp()
    stopped = fusion(api, code=code, language="cpp", compile_timeout=0.05)
    assert stopped.status == "Failed" and stopped.run_result is None, stopped
    compiled = stopped.compile_result
    assert compiled is not None and compiled.status == "TimeLimitExceeded", compiled
    assert compiled.stderr is not None and "over its time limit" in compiled.stderr
    assert summary_run_code_result(stopped, MAPPING) == "compile timeout"
    # the stopped compile was not kept: the default compile_timeout compiles it, timed
    done = fusion(api, code=code, language="cpp")
    assert done.status == "Success", done
    assert done.compile_result is not None and done.compile_result.status == "Finished"
    assert done.compile_result.execution_time is not None
    assert done.compile_result.execution_time > 0.05
    assert done.run_result is not None and done.run_result.stdout == code.split('"')[1]
    # compiled before: from the compile cache, nothing compiled now
    again = fusion(api, code=code, language="cpp", compile_timeout=0.05)
    assert again.status == "Success", again
    assert again.compile_result is not None and again.compile_result.execution_time == 0


def test_a_compile_timeout_over_the_servers_compile_limit_is_refused(api: Server) -> None:
    response = api.http.post(
        "/run_code", json={"code": "int main() {}", "language": "cpp", "compile_timeout": 1000}
    )
    assert response.status_code == 422, response.text
    problem = response.json()["detail"][0]
    assert problem["loc"] == ["body", "compile_timeout"] and "20 seconds" in problem["msg"]
    # a language that does not compile has no use for it
    answer = fusion(api, code="print(1)", language="python", compile_timeout=1000)
    assert answer.status == "Success"


def test_a_runtime_error_is_failed_with_its_code(api: Server) -> None:
    got = fusion(api, code="import sys\nprint('x')\nsys.exit(3)", language="python")
    assert got.status == "Failed"
    assert got.run_result is not None and got.run_result.status == "Finished"
    assert got.run_result.return_code == 3 and got.run_result.stdout == "x\n"
    assert summary_run_code_result(got, MAPPING) == "run failed"

    got = fusion(
        api, code="import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)", language="python"
    )
    assert got.run_result is not None and got.run_result.return_code == 128 + 11


def test_a_time_limit_is_failed_not_a_sandbox_error(api: Server) -> None:
    got = fusion(
        api, code="print('started', flush=True)\nwhile True: pass", language="python", run_timeout=1
    )
    assert got.status == "Failed"
    run = got.run_result
    assert run is not None and run.status == "TimeLimitExceeded" and run.return_code is None
    assert run.stdout == "started\n"
    assert summary_run_code_result(got, MAPPING) == "run timeout"


def test_a_memory_limit_is_failed_with_137_and_says_so(api: Server) -> None:
    hog = "x = bytearray(1 << 30)\nprint(len(x))"
    got = fusion(api, code=hog, language="python")  # the server's default memory: 128 MiB
    assert got.status == "Failed"
    run = got.run_result
    assert run is not None and run.status == "Finished" and run.return_code == 137
    assert run.stderr is not None and "memory limit exceeded (128 MB)" in run.stderr
    assert summary_run_code_result(got, MAPPING) == "run failed"


def test_memory_limit_mb_sets_the_memory(api: Server) -> None:
    body = {"code": "x = bytearray(100 << 20)\nprint(len(x))", "language": "python"}
    small = api.http.post("/run_code", json={**body, "memory_limit_MB": 64}).json()
    assert small["status"] == "Failed" and small["run_result"]["return_code"] == 137
    assert "(64 MB)" in small["run_result"]["stderr"]
    large = api.http.post("/run_code", json={**body, "memory_limit_MB": 256}).json()
    assert large["status"] == "Success" and large["run_result"]["stdout"] == f"{100 << 20}\n"


def test_an_output_limit_is_failed_and_says_so(api: Server) -> None:
    got = fusion(api, code="while True: print('y' * 1000)", language="python")
    assert got.status == "Failed"
    run = got.run_result
    assert run is not None and run.status == "Finished" and run.return_code not in (0, None)
    assert run.stderr is not None and "output limit exceeded" in run.stderr


def test_files_go_in_and_fetch_files_come_out(api: Server) -> None:
    code = (
        "import os\n"
        "text = open('data/in.txt').read()\n"
        "os.makedirs('out', exist_ok=True)\n"
        "open('out/result.txt', 'w').write(text.upper())\n"
        "open('raw.bin', 'wb').write(bytes(range(256)))\n"
        "print(sorted(os.listdir('.')))\n"
    )
    got = fusion(
        api,
        code=code,
        language="python",
        files={"data/in.txt": b64("hello"), "skipped.txt": None},
        fetch_files=["out/result.txt", "raw.bin", "missing.txt"],
    )
    assert got.status == "Success", got
    assert got.run_result is not None and "skipped.txt" not in got.run_result.stdout
    assert base64.b64decode(got.files["out/result.txt"]) == b"HELLO"
    assert base64.b64decode(got.files["raw.bin"]) == bytes(range(256))
    assert "missing.txt" not in got.files


def _has_python_sci(api: Server) -> bool:
    return "python-sci" in {lang["id"] for lang in api.http.get("/languages").json()}


def test_an_unsupported_language_is_refused_naming_the_supported_ones(api: Server) -> None:
    with pytest.raises(Exception, match="422") as refused:
        fusion(api, code="<?php echo 1;", language="php")
    pytest_name = " pytest," if _has_python_sci(api) else ""
    supported = f"supported: bash, cpp, go, java, nodejs,{pytest_name} python, rust"
    assert supported in str(refused.value)
    if not _has_python_sci(api):
        answer = api.http.post("/run_code", json={"code": "x", "language": "pytest"})
        assert answer.status_code == 422  # no scientific Python runtime here
        assert answer.json()["detail"][0]["loc"] == ["body", "language"]


def test_pytest_runs_the_code_s_tests_on_the_scientific_profile(api: Server) -> None:
    need_offered(_has_python_sci(api), "python-sci")
    code = "import numpy\n\ndef test_sum():\n    assert numpy.arange(4).sum() == 6\n"
    got = fusion(api, code=code, language="pytest", memory_limit_MB=256)
    assert got.status == "Success", got
    assert got.run_result is not None and got.run_result.return_code == 0
    assert "1 passed" in got.run_result.stdout
    failing = fusion(api, code="def test_no():\n    assert 1 == 2\n", language="pytest")
    assert failing.status == "Failed" and failing.run_result is not None
    assert failing.run_result.return_code == 1
    assert "1 failed" in failing.run_result.stdout


def test_refusals_name_the_field_in_fastapis_shape(api: Server) -> None:
    def refused(body: dict[str, Any]) -> dict[str, Any]:
        response = api.http.post("/run_code", json={"language": "python", **body})
        assert response.status_code == 422, response.text
        problem: dict[str, Any] = response.json()["detail"][0]
        return problem

    assert refused({})["loc"] == ["body", "code"]
    problem = refused({"code": "x", "run_timeout": 1000})
    assert problem["loc"] == ["body", "run_timeout"] and "30 seconds" in problem["msg"]
    problem = refused({"code": "x", "memory_limit_MB": 100_000})
    assert problem["loc"] == ["body", "memory_limit_MB"] and "1024 MB" in problem["msg"]
    problem = refused({"code": "x", "files": {"../up.txt": b64("x")}})
    assert problem["loc"] == ["body", "files", "../up.txt"] and "'..'" in problem["msg"]
    problem = refused({"code": "x", "files": {"/etc/passwd": b64("x")}})
    assert problem["loc"] == ["body", "files", "/etc/passwd"] and "absolute" in problem["msg"]
    assert refused({"code": "x", "fetch_files": ["/etc/shadow"]})["loc"] == [
        "body",
        "fetch_files",
        0,
    ]
    problem = refused({"code": "x", "files": {"a.txt": "not base64!"}})
    assert problem["loc"] == ["body", "files", "a.txt"] and "base64" in problem["msg"]
    assert refused({"code": "x", "run_timeout": -1})["loc"] == ["body", "run_timeout"]


def verl_post(api: Server, code: str, stdin: str, language: str = "python") -> dict[str, Any]:
    """What verl's sandbox_fusion reward sends, byte for byte in shape (json.dumps of these
    keys, these headers), and its answer as verl takes it (raise_for_status, then JSON)."""
    payload = json.dumps(
        {
            "compile_timeout": 10,
            "run_timeout": 10,
            "code": code,
            "stdin": stdin,
            "memory_limit_MB": 1024,
            "language": language,
            "files": {},
            "fetch_files": [],
        }
    )
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    response = httpx.post(f"{api.url}/run_code", headers=headers, content=payload, timeout=40)
    response.raise_for_status()
    answer: dict[str, Any] = response.json()
    return answer


def verl_reading(answer: dict[str, Any], expected: str) -> Any:
    """verl's reading of an answer: True, False, or its error codes (-2 runtime error, -3
    timeout, -4 compile error, -1 anything else)."""
    status = answer.get("status")
    compiled = answer.get("compile_result")
    run = answer.get("run_result")
    if status == "Failed":
        if compiled and (
            compiled.get("status") in ("Error", "TimeLimitExceeded")
            or (compiled.get("status") == "Finished" and compiled.get("return_code") != 0)
        ):
            return -4
        if run:
            if run.get("status") == "TimeLimitExceeded":
                return -3
            if run.get("status") == "Error" or run.get("return_code") != 0:
                return -2
        return -1
    if status == "Success" and run and run.get("status") == "Finished":
        return str(run.get("stdout") or "").rstrip("\n") == expected.rstrip("\n")
    return -1


def test_verls_exact_body_and_reading(api: Server) -> None:
    double = "print(int(input()) * 2)"
    assert verl_reading(verl_post(api, double, "21\n"), "42\n") is True
    assert verl_reading(verl_post(api, double, "21\n"), "43") is False
    assert verl_reading(verl_post(api, "print(1/0)", ""), "") == -2
    assert verl_reading(verl_post(api, "while True: pass", ""), "") == -3
    assert verl_reading(verl_post(api, "x = bytearray(2 << 30)", ""), "") == -2
    assert verl_reading(verl_post(api, "int main() { return x; }", "", "cpp"), "") == -4
    cpp = '#include <cstdio>\nint main() { int n; scanf("%d", &n); printf("%d\\n", n * 2); }'
    assert verl_reading(verl_post(api, cpp, "21\n", "cpp"), "42") is True


def test_an_overloaded_service_answers_503_with_retry_after() -> None:
    with custom_server("memory", workers=0, max_pending_jobs="1") as idle:
        assert idle.submit({"source_code": "print(1)"}).status_code == 202
        response = idle.http.post("/run_code", json={"code": "print(2)", "language": "python"})
        assert response.status_code == 503
        assert response.headers["retry-after"] == "2"
