"""cgroup detection and accounting. v1 runs for real on this machine; the v2 file logic is
checked against a directory laid out like cgroup2, since no v2 controllers exist here."""

from __future__ import annotations

from pathlib import Path

import pytest

from onpyrunner.errors import SandboxError
from onpyrunner.sandbox import cgroup

MOUNTINFO_V1 = """\
30 25 0:26 / /sys/fs/cgroup/memory rw,relatime shared:9 - cgroup cgroup rw,memory
31 25 0:27 / /sys/fs/cgroup/pids rw,relatime shared:10 - cgroup cgroup rw,pids
32 25 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:11 - cgroup cgroup rw,cpu,cpuacct
"""
PROC_CGROUP_V1 = "4:memory:/svc\n3:pids:/\n2:cpu,cpuacct:/svc\n0::/\n"


def _proc(tmp_path: Path, mountinfo: str, proc_cgroup: str) -> Path:
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "mountinfo").write_text(mountinfo)
    (proc / "cgroup").write_text(proc_cgroup)
    return proc


def test_v1_slots_go_under_the_service_cgroup_of_each_controller(tmp_path: Path) -> None:
    proc = _proc(tmp_path, MOUNTINFO_V1, PROC_CGROUP_V1)
    layout = cgroup.detect(None, "onpyrunner-1", proc_root=proc, cgroup_root=tmp_path / "none")
    assert layout.version is cgroup.CgroupVersion.V1
    assert layout.parents == {
        "memory": Path("/sys/fs/cgroup/memory/svc/onpyrunner-1"),
        "pids": Path("/sys/fs/cgroup/pids/onpyrunner-1"),
        "cpuacct": Path("/sys/fs/cgroup/cpu,cpuacct/svc/onpyrunner-1"),
    }


def test_v1_without_pids_says_what_is_missing(tmp_path: Path) -> None:
    proc = _proc(tmp_path, MOUNTINFO_V1.replace("rw,pids", "rw,freezer"), PROC_CGROUP_V1)
    with pytest.raises(SandboxError, match="pids"):
        cgroup.detect(None, "x", proc_root=proc, cgroup_root=tmp_path / "none")


def _fake_v2(tmp_path: Path) -> Path:
    root = tmp_path / "cg2"
    root.mkdir()
    (root / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    (root / "cgroup.subtree_control").write_text("")
    return root


def test_v2_is_chosen_when_the_unified_hierarchy_has_the_controllers(tmp_path: Path) -> None:
    root = _fake_v2(tmp_path)
    proc = _proc(tmp_path, "", "0::/system.slice/app.service\n")
    layout = cgroup.detect("/delegated", "onpyrunner-7", proc_root=proc, cgroup_root=root)
    assert layout.version is cgroup.CgroupVersion.V2
    assert layout.parents == {"": root / "delegated" / "onpyrunner-7"}


def test_v2_without_memory_controller_is_refused(tmp_path: Path) -> None:
    root = _fake_v2(tmp_path)
    (root / "cgroup.controllers").write_text("cpu pids\n")
    proc = _proc(tmp_path, "", "0::/\n")
    with pytest.raises(SandboxError, match="memory"):
        cgroup.detect(None, "x", proc_root=proc, cgroup_root=root)


def test_v2_enables_controllers_down_to_the_slots(tmp_path: Path) -> None:
    root = _fake_v2(tmp_path)
    layout = cgroup.CgroupLayout(cgroup.CgroupVersion.V2, {"": root / "a" / "onpyrunner-1"})
    cgroup.prepare_v2_parent(layout, cgroup_root=root)
    for d in (root, root / "a", root / "a" / "onpyrunner-1"):
        assert (d / "cgroup.subtree_control").read_text() == "+memory +pids +cpu"


def test_v2_slot_accounting_reads_the_v2_files(tmp_path: Path) -> None:
    slot = cgroup.SlotCgroupV2(tmp_path / "slot-0")
    slot.create()
    files = {
        "memory.current": "4194304\n",
        "memory.stat": "anon 1048576\nactive_file 1048576\ninactive_file 1048576\n",
        "memory.peak": "5242880\n",
        "memory.events": "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n",
        "cpu.stat": "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n",
        "pids.max": "max\n",
        "memory.max": "max\n",
    }
    for name, text in files.items():
        (slot.path / name).write_text(text)
    start = slot.set_limits(64 << 20, 35)
    assert (slot.path / "memory.max").read_text() == str(4194304 + (64 << 20))
    assert (slot.path / "pids.max").read_text() == "35"
    assert (slot.path / "memory.swap.max").read_text() == "0"
    (slot.path / "cpu.stat").write_text("usage_usec 4500\n")
    (slot.path / "memory.peak").write_text("6291456\n")
    (slot.path / "memory.events").write_text("oom_kill 3\n")
    counters = slot.finish(start)
    assert counters.cpu_ns == 3_000_000
    assert counters.oom_kills == 2
    assert counters.memory_peak_bytes == 6291456 - 4194304


def test_v2_second_finish_of_a_run_never_reads_the_slots_lifetime_peak(tmp_path: Path) -> None:
    # When the OOM killer takes the init, the run is finished from the host's evidence; a
    # second read must not fall back to memory.peak, which covers the slot's whole life.
    slot = cgroup.SlotCgroupV2(tmp_path / "slot-0")
    slot.create()
    files = {
        "memory.current": "1048576\n",
        "memory.peak": "1048576\n",
        "memory.events": "oom_kill 0\n",
        "cpu.stat": "usage_usec 0\n",
    }
    for name, text in files.items():
        (slot.path / name).write_text(text)
    start = slot.set_limits(64 << 20, 35)
    (slot.path / "memory.peak").write_text(f"{(1 << 20) + (64 << 20)}\n")
    (slot.path / "memory.events").write_text("oom_kill 1\n")
    assert slot.oom_kills_since(start) == 1
    first = slot.finish(start)
    (slot.path / "memory.peak").write_text(f"{900 << 20}\n")  # the lifetime peak
    assert slot.finish(start) == first
    assert first.memory_peak_bytes == 64 << 20


def test_v2_between_runs_the_limits_are_relaxed(tmp_path: Path) -> None:
    slot = cgroup.SlotCgroupV2(tmp_path / "slot-0")
    slot.create()
    (slot.path / "memory.current").write_text("4194304\n")
    slot.relax(1 << 30, 131)
    assert (slot.path / "memory.max").read_text() == str(4194304 + (1 << 30))
    assert (slot.path / "pids.max").read_text() == "131"
