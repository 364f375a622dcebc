"""The `onpyrunner` command: run and check, through the real sandbox."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.sandbox


def onpyrunner(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "onpyrunner", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


def test_run_prints_output_and_a_summary(tmp_path: Path) -> None:
    program = tmp_path / "p.py"
    program.write_text("print('hi', input())\n")
    stdin = tmp_path / "in.txt"
    stdin.write_text("there\n")
    proc = onpyrunner("run", str(program), "--stdin", str(stdin))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "hi there\n"
    assert proc.stderr.startswith("[SUCCESS] exit 0, cpu ")


def test_run_json_is_exactly_the_result_object(tmp_path: Path) -> None:
    program = tmp_path / "p.py"
    program.write_text("import sys; print('out'); sys.exit(4)\n")
    proc = onpyrunner("run", str(program), "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert set(result) == {
        "outcome",
        "stdout",
        "stderr",
        "exit_code",
        "signal",
        "usage",
        "compile_output",
        "compile_time_ms",
    }
    assert result["compile_output"] is None  # set only when a compile failed
    assert result["compile_time_ms"] is None  # Python does not compile
    assert set(result["usage"]) == {"cpu_time_ms", "wall_time_ms", "memory_kb"}
    assert (result["outcome"], result["stdout"], result["exit_code"]) == (
        "RUNTIME_ERROR",
        "out\n",
        4,
    )


def test_run_exits_0_for_any_classified_outcome(tmp_path: Path) -> None:
    program = tmp_path / "p.py"
    program.write_text("while True: pass\n")
    proc = onpyrunner("run", str(program), "--cpu-time-ms", "200", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["outcome"] == "TIME_LIMIT_EXCEEDED"


def test_run_refuses_limits_above_the_server_maximum(tmp_path: Path) -> None:
    program = tmp_path / "p.py"
    program.write_text("print(1)\n")
    proc = onpyrunner("run", str(program), "--memory-mb", "999999")
    assert proc.returncode == 2
    assert "--memory-mb 999999 is above the server maximum 1024" in proc.stderr


def test_run_refuses_compile_limits_above_the_servers_compile_limits(tmp_path: Path) -> None:
    program = tmp_path / "p.c"
    program.write_text("int main(void) { return 0; }\n")
    proc = onpyrunner("run", str(program), "--language", "c", "--compile-wall-time-ms", "20001")
    assert proc.returncode == 2
    assert "--compile-wall-time-ms 20001 is above the server compile limit 20000" in proc.stderr


def test_run_stops_a_compile_at_its_compile_limit(tmp_path: Path) -> None:
    program = tmp_path / "p.cpp"
    program.write_text("#include <bits/stdc++.h>\n// " + tmp_path.name + "\nint main() {}\n")
    args = ["run", str(program), "--language", "cpp", "--json"]
    proc = onpyrunner(*args, "--compile-wall-time-ms", "50", "--compile-cpu-time-ms", "50")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["outcome"] == "COMPILE_ERROR"
    assert result["compile_output"].startswith("compilation stopped: over its time limit")
    assert result["compile_time_ms"] > 0


def test_run_says_what_to_fix_when_the_sandbox_cannot_start(tmp_path: Path) -> None:
    program = tmp_path / "p.py"
    program.write_text("print(1)\n")
    env = {"ONPYRUNNER_NSJAIL_PATH": "/nonexistent/nsjail", "PATH": "/usr/bin:/bin"}
    proc = onpyrunner("run", str(program), env=env)
    assert proc.returncode == 2
    assert "nsjail not found at /nonexistent/nsjail; set ONPYRUNNER_NSJAIL_PATH" in proc.stderr


def test_run_without_root_says_so() -> None:
    program = Path(__file__).parent.parent / "examples" / "hello.py"
    proc = subprocess.run(
        [
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
            sys.executable,
            "-m",
            "onpyrunner",
            "run",
            str(program),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=Path(__file__).parent.parent,
    )
    assert proc.returncode == 2, proc.stderr
    assert "the sandbox needs root" in proc.stderr


def test_check_runs_every_self_test() -> None:
    proc = onpyrunner("check")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "runtime python: CPython 3." in proc.stdout
    assert "self-test passed in the sandbox" in proc.stdout
    assert proc.stdout.rstrip().endswith("OK: the sandbox works on this machine")


def test_check_fails_and_names_the_missing_piece() -> None:
    proc = onpyrunner("check", env={"ONPYRUNNER_NSJAIL_PATH": "/nonexistent/nsjail"})
    assert proc.returncode == 1
    assert "FAIL  nsjail: nsjail not found at /nonexistent/nsjail" in proc.stdout


def test_serve_refuses_several_processes_without_redis() -> None:
    proc = onpyrunner("serve", "--processes", "2", "--port", "0")
    assert proc.returncode == 2
    assert "--processes needs Redis" in proc.stderr


def test_install_systemd_writes_units_that_name_this_installation(tmp_path: Path) -> None:
    proc = onpyrunner("install-systemd", "api", "worker", "--dir", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    command = Path(sys.executable).parent / "onpyrunner"
    for name, argv in (("onpyrunner.service", "serve"), ("onpyrunner-worker.service", "worker")):
        text = (tmp_path / name).read_text()
        assert f"\nExecStart={command} {argv}\n" in text
        assert "\nDelegate=yes\n" in text  # what lets the service arrange its cgroups
        assert "ExecStart=/opt/onpyrunner" not in text
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o644
    assert "systemctl daemon-reload && systemctl enable --now" in proc.stdout
    assert "ONPYRUNNER_REDIS_URL" in proc.stdout  # a worker needs the queue


def test_install_systemd_into_a_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    proc = onpyrunner("install-systemd", "--dir", str(tmp_path / "none"))
    assert proc.returncode == 2
    assert proc.stderr.startswith("onpyrunner: error: ") and "none" in proc.stderr
