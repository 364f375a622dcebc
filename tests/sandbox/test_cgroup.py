"""cgroup detection and accounting. v1 runs for real on this machine; the v2 file logic is
checked against a directory laid out like cgroup2, since no v2 controllers exist here."""

from __future__ import annotations

import os
import subprocess
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


def test_v2_slots_go_beside_the_leaf_the_service_moves_into(tmp_path: Path) -> None:
    # Under systemd the service's own cgroup is a leaf holding its processes; v2 allows
    # none beside children with controllers, so the service empties it into `service`.
    root = _fake_v2(tmp_path)
    unit = root / "system.slice" / "app.service"
    unit.mkdir(parents=True)
    (unit / "cgroup.type").write_text("domain\n")
    proc = _proc(tmp_path, "", "0::/system.slice/app.service\n")
    layout = cgroup.detect(None, "onpyrunner-7", proc_root=proc, cgroup_root=root)
    assert layout.parents == {"": unit / "onpyrunner-7"}
    assert layout.vacate == unit
    # A second service instance of the same process (or a child process) finds itself
    # in the leaf already, and puts its slots beside it too.
    (tmp_path / "again").mkdir()
    moved = _proc(tmp_path / "again", "", "0::/system.slice/app.service/service\n")
    again = cgroup.detect(None, "onpyrunner-8", proc_root=moved, cgroup_root=root)
    assert again.parents == {"": unit / "onpyrunner-8"}
    assert again.vacate is None


def test_v2_in_the_root_cgroup_nothing_moves(tmp_path: Path) -> None:
    root = _fake_v2(tmp_path)  # the root has no cgroup.type: processes may stay there
    proc = _proc(tmp_path, "", "0::/\n")
    layout = cgroup.detect(None, "onpyrunner-1", proc_root=proc, cgroup_root=root)
    assert layout.parents == {"": root / "onpyrunner-1"} and layout.vacate is None


class FakeKernel:
    """cgroup.procs as the kernel keeps it: a pid written to one leaves every other."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, root: Path) -> None:
        self.root = root
        self.real_write = cgroup._write
        monkeypatch.setattr(cgroup, "_write", self.write)

    def write(self, path: Path, value: str) -> None:
        if path.name != "cgroup.procs":
            self.real_write(path, value)
            return
        for procs in self.root.rglob("cgroup.procs"):
            pids = procs.read_text().split()
            if value in pids:
                procs.write_text("".join(f"{p}\n" for p in pids if p != value))
        with open(path, "a") as f:
            f.write(f"{value}\n")


def test_v2_the_service_moves_itself_into_its_leaf(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _fake_v2(tmp_path)
    FakeKernel(monkeypatch, root)
    unit = root / "app.service"
    unit.mkdir()
    (unit / "cgroup.procs").write_text("4242\n")
    cgroup.vacate(unit, self_pid=4242)
    assert (unit / "cgroup.procs").read_text() == ""
    assert (unit / "service" / "cgroup.procs").read_text() == "4242\n"


def test_v2_another_process_is_moved_only_from_a_delegated_cgroup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _fake_v2(tmp_path)
    FakeKernel(monkeypatch, root)
    scope = root / "session-1.scope"  # a login session: the shell is not ours to move
    scope.mkdir()
    (scope / "cgroup.procs").write_text("4242\n99\n")
    with pytest.raises(SandboxError, match="Delegate=yes") as caught:
        cgroup.vacate(scope, self_pid=4242)
    assert "99" in str(caught.value) and "ONPYRUNNER_CGROUP_PARENT" in str(caught.value)
    assert (scope / "cgroup.procs").read_text() == "4242\n99\n"
    try:  # what systemd marks a Delegate=yes unit's cgroup with
        os.setxattr(scope, "user.delegate", b"1")
    except OSError as e:  # a filesystem without them; CI's has them: it must not skip there
        if os.environ.get("CI") == "true":
            pytest.fail(f"no user xattrs on {tmp_path}: {e}")
        pytest.skip(f"no user xattrs on {tmp_path}: {e}")
    cgroup.vacate(scope, self_pid=4242)
    assert sorted((scope / "service" / "cgroup.procs").read_text().split()) == ["4242", "99"]


def _fill(leaf: Path, **files: str) -> None:
    for name, text in files.items():
        (leaf / name.replace("_", ".", 1)).write_text(text)


def test_v2_each_run_gets_a_fresh_leaf_and_its_own_counters(tmp_path: Path) -> None:
    slot = cgroup.SlotCgroupV2(tmp_path / "slot-0")
    slot.create()
    assert (slot.path / "cgroup.subtree_control").read_text() == "+memory +pids +cpu"
    slot.attach(100)  # the launcher: a leaf of its own beside the runs
    assert (slot.jail / "cgroup.procs").read_text() == "100"
    slot.adopt(201)  # the init of the first sandbox, while it waits for its go
    first = slot.path / "run-1"
    assert slot.run == first and (first / "cgroup.procs").read_text() == "201"
    _fill(
        first,
        memory_current="4096\n",
        memory_peak="4096\n",
        memory_events="oom_kill 0\n",
        cpu_stat="usage_usec 1500\nuser_usec 1000\n",
    )
    start = slot.set_limits(64 << 20, 32)
    assert (first / "memory.max").read_text() == str(4096 + (64 << 20))
    assert (first / "pids.max").read_text() == "33"  # the program's 32 and its init
    assert (first / "memory.swap.max").read_text() == "0"
    _fill(
        first,
        cpu_stat="usage_usec 4500\n",
        memory_peak=f"{(60 << 20) + 4096}\n",
        memory_events="oom_kill 1\n",
    )
    counters = slot.finish(start)
    assert counters == cgroup.RunCounters(cpu_ns=3_000_000, memory_peak_bytes=60 << 20, oom_kills=1)
    assert slot.finish(start) == counters  # read again (an init that went silent): the same
    assert sorted(slot.procs()) == [100, 201]

    for f in first.iterdir():  # the first run is over: its leaf is empty (the kernel's files
        f.unlink()  # are not removable here, so the fake's are removed by hand)
    slot.adopt(202)
    second = slot.path / "run-2"
    assert not first.exists(), "the leaf of a run that is over is removed"
    # Kernel 6.1 cannot reset memory.peak: a fresh leaf is what keeps run 1's 60 MiB peak
    # out of run 2's usage.
    _fill(
        second,
        memory_current="0\n",
        memory_peak="0\n",
        memory_events="oom_kill 0\n",
        cpu_stat="usage_usec 0\n",
    )
    start = slot.set_limits(64 << 20, 32)
    _fill(second, memory_peak=f"{2 << 20}\n", cpu_stat="usage_usec 800\n")
    assert slot.finish(start) == cgroup.RunCounters(800_000, 2 << 20, 0)


def test_v2_without_memory_peak_there_is_no_peak_to_give(tmp_path: Path) -> None:
    # Linux 5.10 has cgroup v2 but no memory.peak: the run's memory then comes from the
    # init's maxrss (slot.py), never from a made-up number.
    slot = cgroup.SlotCgroupV2(tmp_path / "slot-0")
    slot.create()
    slot.attach(100)
    slot.adopt(201)
    _fill(
        slot.path / "run-1",
        memory_current="0\n",
        memory_events="oom_kill 0\n",
        cpu_stat="usage_usec 0\n",
    )
    start = slot.set_limits(64 << 20, 32)
    assert slot.finish(start).memory_peak_bytes is None


def test_v2_what_the_init_started_before_its_ready_is_adopted_with_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Warm start: the init starts the interpreter before it says READY, so the interpreter
    # is born in `jail`; it must run in the run's leaf, under the run's limits, too. Here
    # this test process plays the init, and a real child of it the interpreter.
    slot = cgroup.SlotCgroupV2(tmp_path / "slot-0")
    slot.create()
    FakeKernel(monkeypatch, slot.path)
    interpreter = subprocess.Popen(["sleep", "30"])
    try:
        (slot.jail / "cgroup.procs").write_text(f"100\n{os.getpid()}\n{interpreter.pid}\n")
        slot.adopt(os.getpid())
        assert (slot.jail / "cgroup.procs").read_text().split() == ["100"]
        assert sorted((slot.path / "run-1" / "cgroup.procs").read_text().split()) == sorted(
            [str(os.getpid()), str(interpreter.pid)]
        )
    finally:
        interpreter.kill()
        interpreter.wait()


def test_v2_a_run_before_any_adopted_sandbox_is_refused(tmp_path: Path) -> None:
    slot = cgroup.SlotCgroupV2(tmp_path / "slot-0")
    slot.create()
    with pytest.raises(SandboxError, match="run cgroup"):
        slot.set_limits(64 << 20, 32)


def test_v2_between_runs_the_limits_are_relaxed(tmp_path: Path) -> None:
    slot = cgroup.SlotCgroupV2(tmp_path / "slot-0")
    slot.create()
    (slot.path / "memory.current").write_text("4194304\n")
    slot.relax(1 << 30, 131)
    assert (slot.path / "memory.max").read_text() == str(4194304 + (1 << 30))
    assert (slot.path / "pids.max").read_text() == "131"
