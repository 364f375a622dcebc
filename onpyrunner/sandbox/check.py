"""`onpyrunner check`: what this machine supports, proven by running each self-test."""

from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from onpyrunner.errors import OnPyRunnerError
from onpyrunner.models import Outcome
from onpyrunner.sandbox import cgroup, nsjail
from onpyrunner.settings import Settings

NAMESPACES = ("user", "pid", "mnt", "ipc", "uts", "net", "cgroup")


@dataclass
class Report:
    """Lines to print, and whether the sandbox can work."""

    lines: list[str] = field(default_factory=list)
    ok: bool = True

    def good(self, text: str) -> None:
        self.lines.append(f"  ok    {text}")

    def bad(self, text: str) -> None:
        self.lines.append(f"  FAIL  {text}")
        self.ok = False

    def note(self, text: str) -> None:
        self.lines.append(f"  --    {text}")


def _check_nsjail(settings: Settings, report: Report) -> None:
    try:
        path = nsjail.locate(settings.nsjail_path)
    except OnPyRunnerError as e:
        report.bad(f"nsjail: {e}")
        return
    proc = subprocess.run([str(path), "--help"], capture_output=True, timeout=10, check=False)
    if b"Usage" in proc.stdout + proc.stderr:
        report.good(f"nsjail runs: {path}")
    else:
        report.bad(f"nsjail at {path} does not run (exit {proc.returncode})")


def _check_kernel(report: Report) -> None:
    report.note(f"kernel {platform.release()} on {platform.machine()}")
    missing = [ns for ns in NAMESPACES if not Path(f"/proc/self/ns/{ns}").exists()]
    if missing:
        report.bad(f"namespaces missing from the kernel: {', '.join(missing)}")
    else:
        report.good(f"namespaces: {', '.join(NAMESPACES)}")
    max_userns = Path("/proc/sys/user/max_user_namespaces")
    if max_userns.exists() and max_userns.read_text().strip() == "0":
        report.bad("user namespaces are disabled (sysctl user.max_user_namespaces=0)")
    if os.geteuid() != 0:
        report.bad("not running as root: the sandbox needs root to map users and make cgroups")
    else:
        report.good("running as root")


def _check_cgroups(settings: Settings, report: Report) -> None:
    try:
        layout = cgroup.detect(settings.cgroup_parent, "onpyrunner-check")
    except OnPyRunnerError as e:
        report.bad(f"cgroups: {e}")
        return
    controllers = cgroup.V1_CONTROLLERS if layout.version == 1 else cgroup.V2_CONTROLLERS
    where = ", ".join(str(p.parent) for p in layout.parents.values())
    text = f"cgroup v{int(layout.version)} with {', '.join(controllers)} (slots under {where}"
    if layout.version is cgroup.CgroupVersion.V2:
        text += ", a fresh cgroup per run"
        if layout.vacate is not None:
            text += f"; the service moves its processes into {layout.vacate / cgroup.SERVICE_LEAF}"
    report.good(text + ")")
    if layout.version is cgroup.CgroupVersion.V2 and _kernel_before(5, 19):
        report.note(
            "this kernel has no memory.peak (Linux 5.19+): memory_kb is the peak resident "
            "set of the run's largest process, not of its whole tree"
        )


def _kernel_before(major: int, minor: int) -> bool:
    numbers = platform.release().split("-")[0].split(".")
    try:
        return (int(numbers[0]), int(numbers[1])) < (major, minor)
    except (IndexError, ValueError):
        return False


async def _check_runtimes(settings: Settings, report: Report) -> None:
    from onpyrunner.sandbox.pool import Sandbox

    try:
        sandbox = await Sandbox.start(settings, 1)
    except OnPyRunnerError as e:
        report.bad(f"sandbox: {e}")
        return
    try:
        report.good(
            f"sandbox init built in {settings.state_dir}; every policy composed and "
            "accepted by nsjail"
        )
        if not sandbox.runtimes:
            report.bad("no runtime is installed (python: set ONPYRUNNER_PYTHON_PATH)")
        for runtime in sandbox.runtimes.values():
            test = runtime.spec.self_test
            try:
                result = await sandbox.run(runtime.id, test.source.encode(), test.stdin.encode())
            except OnPyRunnerError as e:
                report.bad(f"runtime {runtime.id} ({runtime.version}): self-test failed: {e}")
                continue
            if result.outcome is Outcome.SUCCESS and result.stdout == test.stdout:
                report.good(
                    f"runtime {runtime.id}: {runtime.version}; self-test passed in the sandbox "
                    f"({result.usage.wall_time_ms} ms)"
                )
            else:
                report.bad(
                    f"runtime {runtime.id}: self-test gave {result.outcome}, stdout "
                    f"{result.stdout[:80]!r}, stderr {result.stderr[-300:]!r}"
                )
    finally:
        await sandbox.close()


async def check_machine(settings: Settings) -> Report:
    """Check everything the sandbox needs; run every runtime's self-test for real."""
    report = Report()
    _check_nsjail(settings, report)
    _check_kernel(report)
    _check_cgroups(settings, report)
    if report.ok:
        await _check_runtimes(settings, report)
    return report
